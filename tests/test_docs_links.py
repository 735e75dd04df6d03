"""Every relative link in README.md and docs/*.md leads somewhere: the file exists, and a
``#anchor`` names a heading of that file as GitHub makes its anchors. Moving a section from one
file to another breaks the links to it; this says which."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# [text](target) and ![alt](target); the target ends at a space (a title) or the parenthesis.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, with inline code taken out (a link written as
    code is an example, not a link)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: its text as shown (code, links and emphasis reduced to
    their text), lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = text.replace("`", "").lower()
    text = "".join(ch for ch in text if ch.isalnum() or ch in " -_")
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's anchor; a repeated heading gets -1, -2 … as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for line in prose_lines(path.read_text()):
        match = HEADING.match(line)
        if match is None:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(path: Path) -> list[str]:
    broken = []
    for line in prose_lines(path.read_text()):
        for target in LINK.findall(re.sub(r"`[^`]*`", "", line)):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: …
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            if not linked.exists():
                broken.append(f"{path.name}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{path.name}: {target} (no heading #{anchor} in {linked.name})")
    return broken


def test_every_link_in_the_readme_and_docs_leads_somewhere() -> None:
    checked = [path for path in documents() if LINK.search(path.read_text())]
    # The README links to every area's page; a checker that found no link checked nothing.
    assert ROOT / "README.md" in checked
    broken = [problem for path in documents() for problem in broken_links(path)]
    assert broken == []


def test_a_link_to_a_missing_file_or_heading_is_reported(tmp_path: Path) -> None:
    (tmp_path / "area.md").write_text(
        '# Area\n\n## Under load: wait, then say "very busy"\n\n## Results\n\n## Results\n'
    )
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n"
        "[ok](area.md#under-load-wait-then-say-very-busy) [second](area.md#results-1) "
        "[self](#page) [web](https://example.com/x.md) `[code](nowhere.md)`\n\n"
        "[gone](missing.md) [wrong](area.md#under-load) [third](area.md#results-2)\n\n"
        "```\n[fenced](nowhere.md)\n```\n"
    )
    assert broken_links(page) == [
        "page.md: missing.md (no such file)",
        "page.md: area.md#under-load (no heading #under-load in area.md)",
        "page.md: area.md#results-2 (no heading #results-2 in area.md)",
    ]


def test_anchors_follow_githubs_rules() -> None:
    assert slug("Errors: GOV.UK's pattern") == "errors-govuks-pattern"
    assert slug("Reflow (WCAG 1.4.10)") == "reflow-wcag-1410"
    assert slug("Completing, and corrections") == "completing-and-corrections"
    assert slug("The `vision` extra") == "the-vision-extra"
