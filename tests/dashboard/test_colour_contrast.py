"""Colour contrast of the pages (WCAG 2.2 AA), computed from static/css/app.css itself: the
pairs its header comment states, with their ratios, and every rule that sets both a text colour
and a background. A colour changed in the CSS without a look at its contrast fails here."""

import re
from pathlib import Path

import pytest

from dashboard.charts import SERIES, STYLE

CSS = (Path(__file__).resolve().parents[2] / "static" / "css" / "app.css").read_text()
MINIMUM = {"text": 4.5, "non-text": 3.0}
# "text  --muted on #fff  7.72:1" in the header comment.
CLAIM = re.compile(r"^\s*(text|non-text)\s+(\S+) on (\S+)\s+(\d+(?:\.\d+)?):1", re.M)


def relative_luminance(colour: str) -> float:
    digits = colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(digit * 2 for digit in digits)
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    red, green, blue = (
        c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels
    )
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(first: str, second: str) -> float:
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def custom_properties() -> dict[str, str]:
    [root] = re.findall(r":root\s*\{([^}]*)\}", CSS)
    return dict(re.findall(r"(--[\w-]+)\s*:\s*(#[0-9a-fA-F]{3,6})\s*;", root))


def resolve(value: str) -> str | None:
    """A colour (hex, a custom property or its var()) as hex, or None for what has no single
    colour (none, rgba, inherit)."""
    value = value.strip()
    if match := re.fullmatch(r"var\((--[\w-]+)\)|(--[\w-]+)", value):
        return custom_properties()[match[1] or match[2]]
    if re.fullmatch(r"#[0-9a-fA-F]{3}|#[0-9a-fA-F]{6}", value):
        return value
    return None


def header_claims() -> list[tuple[str, str, str, float]]:
    header = CSS[: CSS.index("*/")]
    return [(kind, fore, back, float(ratio)) for kind, fore, back, ratio in CLAIM.findall(header)]


def test_the_contrast_functions_agree_with_wcag() -> None:
    assert contrast("#000", "#fff") == pytest.approx(21)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


def test_each_stated_pair_has_the_ratio_it_states_and_meets_aa() -> None:
    claims = header_claims()
    assert len(claims) >= 10
    for kind, fore, back, stated in claims:
        ratio = contrast(resolve(fore), resolve(back))
        assert ratio == pytest.approx(stated, abs=0.01), (fore, back, round(ratio, 2))
        assert ratio >= MINIMUM[kind], (fore, back, round(ratio, 2))


def test_the_focus_ring_stands_out_on_white_and_on_the_primary_colour() -> None:
    stated = {(fore, back) for kind, fore, back, _ in header_claims() if kind == "non-text"}
    assert {("--focus", "#fff"), ("--focus", "--primary")} <= stated
    assert re.search(r":focus-visible\s*\{[^}]*outline:\s*3px solid var\(--focus\)", CSS)


def test_every_colour_used_for_text_is_stated_on_white() -> None:
    used = set(re.findall(r"(?<![\w-])color:\s*var\((--[\w-]+)\)", CSS))
    stated = {fore for kind, fore, back, _ in header_claims() if kind == "text" and back == "#fff"}
    assert used, "no text colours found"
    assert used <= stated, used - stated


def test_every_rule_with_a_colour_and_a_background_is_readable() -> None:
    checked = 0
    for selector, body in re.findall(r"([^{}]+)\{([^{}]*)\}", CSS):
        declarations = {
            name.strip(): value.strip()
            for name, value in re.findall(r"([\w-]+)\s*:\s*([^;]+)", body)
        }
        fore = resolve(declarations.get("color", ""))
        back = resolve(declarations.get("background", declarations.get("background-color", "")))
        if fore and back:
            checked += 1
            ratio = contrast(fore, back)
            assert ratio >= MINIMUM["text"], (selector.strip(), fore, back, round(ratio, 2))
    assert checked >= 8


def test_chart_lines_and_labels_stand_out_on_the_charts_white() -> None:
    for series in SERIES:
        assert contrast(series.colour, STYLE.background) >= MINIMUM["non-text"], series.name
    for text in (STYLE.foreground, STYLE.foreground_strong, STYLE.foreground_subtle):
        assert contrast(text, STYLE.background) >= MINIMUM["text"], text
