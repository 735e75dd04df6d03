"""Progress charts on the client's page: server-rendered SVG (pygal) with a data table for
screen readers (and for paper: the page prints it).

For each test with a left/right threshold: the left and right values at each of the latest
twelve completed assessments (or all of them), their difference, and the asymmetry threshold
as a dashed line; and adherence per week of the current program. Series differ by line and
marker as well as colour, and the legend says how in words, so the charts read in
black-and-white print.
"""

import math
import re
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

import pygal
from django.conf import settings
from django.utils.safestring import SafeString, mark_safe
from pygal.style import Style

from assessments.findings import DEFAULT_THRESHOLDS, in_unit, thresholds_with
from assessments.models import Assessment
from assessments.programs.services import WeekAdherence


@dataclass(frozen=True)
class Metric:
    protocol: str
    field: str
    title: str
    unit: str
    threshold: str


METRICS = (
    Metric(
        "aslr",
        "aslr_score",
        "Active straight leg raise: difficulty (0–5)",
        "points",
        "aslr_side_difference",
    ),
    Metric("aslr", "slr_angle_deg", "Straight leg raise angle", "°", "slr_angle_difference_deg"),
    Metric(
        "faber", "faber_height_cm", "Figure-4 (FABER): knee height", "cm", "faber_difference_cm"
    ),
    Metric(
        "lunge",
        "fppa_deg",
        "Lunge: frontal plane projection angle (mean of trials)",
        "°",
        "fppa_difference_deg",
    ),
    Metric("knee_to_wall", "ktw_cm", "Knee-to-wall distance", "cm", "ktw_difference_cm"),
)

CHARTED_FIELDS = tuple(sorted({metric.field for metric in METRICS}))


class Reading(NamedTuple):
    """One recorded value, as much of it as the charts read."""

    assessment_id: int
    protocol: str
    field: str
    side: str
    value: object


@dataclass(frozen=True)
class Series:
    """How a line of the progress charts looks: never told apart by colour alone."""

    name: str
    colour: str
    dash: str | None
    dot_radius: float
    # The line's colour for a filled dot, white (or none) for an open circle.
    dot_fill: str
    dot_dash: str | None
    # False: a dot only where a point stands alone (the threshold of a single assessment).
    dots: bool
    looks: str


LEFT, RIGHT, DIFFERENCE, THRESHOLD = SERIES = (
    Series("Left", "#0b5cad", None, 4.5, "#0b5cad", None, True, "solid line, filled dots"),
    Series("Right", "#a3161b", "8,4", 5, "#ffffff", None, True, "dashed line, open circles"),
    Series("Difference", "#5b3c99", "2,3", 3, "#5b3c99", None, True, "dotted line, small dots"),
    Series(
        "Threshold",
        "#1b1f24",
        "12,6",
        6.5,
        # Unfilled: with one assessment the difference's dot often sits inside it.
        "none",
        "3,2",
        False,
        "black long dashes (a dashed ring with one assessment)",
    ),
)

STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1b1f24",
    foreground_strong="#1b1f24",
    foreground_subtle="#4a545e",
    opacity="1",
    opacity_hover="1",
    stroke_opacity="1",
    stroke_opacity_hover="1",
    colors=tuple(series.colour for series in SERIES),
    # Solid, light guides: dashes are kept for the series (the threshold above all).
    guide_stroke_color="#e3e7eb",
    major_guide_stroke_color="#d0d6dc",
    guide_stroke_dasharray="1,0",
    major_guide_stroke_dasharray="1,0",
    font_family="system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif",
    label_font_size=13,
    major_label_font_size=13,
    legend_font_size=13,
    title_font_size=15,
    value_font_size=12,
)
MAX_ASSESSMENTS = 12


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    svg: SafeString
    columns: list[str]
    rows: list[list[str]]
    note: str
    # The data table's caption: the title, and which assessments when not all are drawn.
    caption: str
    # Drawn by the page (with line samples and words) instead of pygal's colour squares.
    legend: tuple[Series, ...] = ()


@dataclass(frozen=True)
class Progress:
    """The progress charts, and how many of the completed assessments they draw."""

    charts: list[Chart]
    shown: int
    total: int

    @property
    def partial(self) -> bool:
        return self.shown < self.total

    @property
    def limited(self) -> bool:
        """More assessments than a chart draws by default: the page says which it shows."""
        return self.total > MAX_ASSESSMENTS


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    return in_unit(format(Decimal(str(round(value, 1))).normalize(), "f"), unit)


def _svg(chart: pygal.graph.graph.Graph, *, label: str) -> SafeString:
    svg = chart.render(is_unicode=True)
    # pygal adds an inline configuration script for its tooltips; the pages' CSP forbids inline
    # scripts and the charts need none.
    svg = re.sub(r"<script\b[^>]*>.*?</script>", "", svg, flags=re.S)
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)
    # The data table beside the chart is what screen readers read.
    svg = svg.replace(
        "<svg ", f'<svg aria-hidden="true" focusable="false" data-label="{label}" ', 1
    )
    return mark_safe(svg)  # noqa: S308 - pygal escapes the labels it renders


def _line_chart(labels: list[str]) -> pygal.Line:
    chart = pygal.Line(
        style=STYLE,
        js=[],
        disable_xml_declaration=True,
        width=720,
        height=320,
        show_dots=True,
        show_legend=False,
        truncate_label=-1,
        # Room for the last date, centred on the last point.
        margin_right=40,
        # Dates side by side overlap beyond six or so.
        x_label_rotation=30 if len(labels) > 6 else 0,
        allow_interruptions=True,
        include_x_axis=True,
        explicit_size=False,
        title=None,
        print_values=False,
    )
    chart.x_labels = labels
    if len(labels) > MAX_ASSESSMENTS:
        # Label about twelve of the dates; every point is still drawn.
        chart.x_labels_major_every = math.ceil(len(labels) / MAX_ASSESSMENTS)
        chart.show_minor_x_labels = False
    chart.config(css=[*chart.config.css, f"inline:{_series_css(chart)}"])
    return chart


def _series_css(chart: pygal.Line) -> str:
    """Lines and markers of each series, scoped to this chart's id as pygal's own rules are
    (they would otherwise draw every line 1px wide: pygal's ``.reactive`` rule wins over a
    series' stroke width)."""
    scope = f"#chart-{chart.uuid}"
    rules = [f"{scope} .series .line {{ stroke-width: 2.5px }}"]
    for index, series in enumerate(SERIES):
        rules.append(
            f"{scope} .serie-{index} .dot {{ fill: {series.dot_fill}; stroke-width: 2px;"
            f" stroke-dasharray: {series.dot_dash or 'none'} }}"
        )
    return "\n".join(rules)


def progress_charts(
    assessments: Sequence[Assessment], readings: Sequence[Reading], *, everything: bool = False
) -> Progress:
    """One chart per test with results in at least one completed assessment, oldest first:
    the latest twelve (enough to see a trend, few enough to read), or ``everything``."""
    completed = sorted(
        (a for a in assessments if a.completed_at is not None), key=lambda a: a.completed_at
    )
    total = len(completed)
    if not everything:
        completed = completed[-MAX_ASSESSMENTS:]
    if not completed:
        return Progress(charts=[], shown=0, total=0)
    if len(completed) < total:
        which = f"latest {len(completed)} of {total} assessments"
    elif total > MAX_ASSESSMENTS:
        which = f"all {total} assessments"
    else:
        which = ""
    thresholds = thresholds_with(settings.ASSESSMENT_THRESHOLDS)
    by_assessment: dict[tuple[int, str, str, str], list[float]] = defaultdict(list)
    for row in readings:
        if isinstance(row.value, int | float) and not isinstance(row.value, bool):
            by_assessment[(row.assessment_id, row.protocol, row.field, row.side)].append(
                float(row.value)
            )
    labels = [f"{a.completed_at:%-d %b %Y}" for a in completed]
    charts = []
    for metric in METRICS:
        series: dict[str, list[float | None]] = {"Left": [], "Right": []}
        for assessment in completed:
            for side, name in (("left", "Left"), ("right", "Right")):
                found = by_assessment.get((assessment.pk, metric.protocol, metric.field, side))
                # Several trials (the lunge) are averaged, as the protocol does.
                series[name].append(statistics.fmean(found) if found else None)
        if all(v is None for v in series["Left"] + series["Right"]):
            continue
        difference = [
            abs(left - right) if left is not None and right is not None else None
            for left, right in zip(series["Left"], series["Right"], strict=True)
        ]
        limit = float(thresholds[metric.threshold])
        chart = _line_chart(labels)
        chart.y_title = metric.unit
        single = len(labels) == 1
        for line, points in (
            (LEFT, series["Left"]),
            (RIGHT, series["Right"]),
            (DIFFERENCE, difference),
            # With a single assessment there is no line to draw: a ring shows the level.
            (THRESHOLD, [limit] * len(labels)),
        ):
            chart.add(
                line.name,
                points,
                show_dots=line.dots or single,
                dots_size=line.dot_radius,
                stroke_style={"dasharray": line.dash} if line.dash else None,
            )
        threshold = DEFAULT_THRESHOLDS[metric.threshold]
        rows = [
            [label, *(_number(value, metric.unit) for value in (left, right, gap))]
            for label, left, right, gap in zip(
                labels, series["Left"], series["Right"], difference, strict=True
            )
        ]
        charts.append(
            Chart(
                key=f"{metric.protocol}-{metric.field}",
                title=metric.title,
                svg=_svg(chart, label=metric.title),
                columns=["Assessment", "Left", "Right", "Difference"],
                rows=rows,
                note=(
                    f"Threshold ({'a dashed ring' if single else 'black long dashes'}):"
                    f" the asymmetry threshold, a difference of "
                    f"{_number(limit, metric.unit)} ({threshold.source}"
                    f"{', uncertain' if threshold.uncertain else ''})."
                ),
                caption=f"{metric.title}: {which}" if which else metric.title,
                legend=SERIES,
            )
        )
    return Progress(charts=charts, shown=len(completed), total=total)


def adherence_chart(weeks: Sequence[WeekAdherence]) -> Chart | None:
    weeks = [week for week in weeks if week.planned]
    if not weeks:
        return None
    chart = pygal.Bar(
        style=STYLE,
        js=[],
        disable_xml_declaration=True,
        width=720,
        height=280,
        range=(0, 100),
        legend_at_bottom=True,
        explicit_size=False,
        y_title="% done",
    )
    chart.x_labels = [f"Week {week.week}" for week in weeks]
    chart.add("Exercises done", [week.percent for week in weeks])
    return Chart(
        key="adherence",
        title="Adherence per week",
        svg=_svg(chart, label="Adherence per week"),
        columns=["Week", "Done", "Planned", "Adherence"],
        rows=[
            [
                f"Week {w.week} (from {w.starts_on:%-d %b})",
                str(w.done),
                str(w.planned),
                f"{w.percent}%",
            ]
            for w in weeks
        ],
        note="Exercises ticked off against those planned in each week of the program.",
        caption="Adherence per week",
    )
