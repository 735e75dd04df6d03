"""The suite and the benchmarks run from any clone: they read nothing outside the repository.

They once read the video clips from ../shared/media, beside the checkout where they were
written, and five tests failed with FileNotFoundError in a clone anywhere else. The clips now
live in tests/media. This reads every path the test and benchmark code builds from its own
location, and every literal that names the folder outside.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The folder beside the checkout, named in pieces so that this file, which looks for it, does
# not itself read as code that opens it.
OUTSIDE = "shar" + "ed"
BESIDE = "/".join(("..", OUTSIDE))


def sources() -> list[Path]:
    """The test and benchmark code, but for this file (which names what it looks for)."""
    found = [*ROOT.glob("tests/**/*.py"), *ROOT.glob("bench/**/*.py")]
    return sorted(path for path in found if path.resolve() != Path(__file__).resolve())


def escapes(path: Path) -> list[str]:
    """``Path(__file__)...parents[n]`` or ``.parent`` chains that climb out of the checkout,
    and string literals that point beside it."""
    found = []
    tree = ast.parse(path.read_text(), filename=str(path))
    # Docstrings may tell the story; code may not open it.
    prose = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "parents"
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, int)
            and "__file__" in ast.unparse(node.value)
            and not path.resolve().parents[node.slice.value].is_relative_to(ROOT)
        ):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose:
            text = node.value
            if BESIDE in text or (text.strip("/") == OUTSIDE and _in_path(tree, node)):
                found.append(f"line {node.lineno}: {text!r}")
    return found


def _in_path(tree: ast.AST, literal: ast.Constant) -> bool:
    """Whether the literal is joined to a path with ``/`` (``ROOT.parent`` and the folder's
    name)."""
    return any(
        isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and node.right is literal
        for node in ast.walk(tree)
    )


def test_no_test_or_benchmark_reads_outside_the_repository() -> None:
    outside = {str(path.relative_to(ROOT)): found for path in sources() if (found := escapes(path))}
    assert outside == {}


def test_the_clips_the_tests_need_are_in_the_repository() -> None:
    media = ROOT / "tests" / "media"
    assert (media / "pose2sim-single-person-cam01.mp4").stat().st_size > 100_000
    assert (media / "pose2sim-single-person-cam02.mp4").stat().st_size > 100_000
    # Their licence travels with them.
    assert "BSD" in (media / "README.md").read_text()
    assert "Redistribution" in (media / "LICENSE-pose2sim").read_text()
