"""Template source rules a rendered page would otherwise show to its reader."""

from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def test_one_line_comments_close_on_their_line() -> None:
    # Django's {# #} is one line only: one spread over two lines is printed on the page as it
    # is (a chart's note once was). Longer comments use {% comment %}.
    open_ended = [
        f"{path.relative_to(TEMPLATES)}:{number}"
        for path in sorted(TEMPLATES.rglob("*.html")) + sorted(TEMPLATES.rglob("*.txt"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if line.count("{#") > line.count("#}")
    ]
    assert len(list(TEMPLATES.rglob("*.html"))) > 40
    assert not open_ended, open_ended
