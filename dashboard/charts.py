"""Progress charts on the client's page: server-rendered SVG (pygal) with a data table for
screen readers.

For each test with a left/right threshold: the left and right values at each completed
assessment, their difference, and the asymmetry threshold as a dashed line; and adherence per
week of the current program. Lines differ by dash pattern as well as colour, so the charts
read in black-and-white print.
"""

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

from assessments.findings import DEFAULT_THRESHOLDS, thresholds_with
from assessments.models import Assessment
from assessments.programs import WeekAdherence


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


STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1b1f24",
    foreground_strong="#1b1f24",
    foreground_subtle="#4a545e",
    opacity="1",
    opacity_hover="1",
    colors=("#0b5cad", "#a3161b", "#5b3c99", "#1b1f24"),
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
SINGLE_POINT = " (a dot, with one assessment)"
DASHES = {"Left": None, "Right": "8, 4", "Difference": "2, 3", "Threshold": "12, 6"}


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
    text = format(Decimal(str(round(value, 1))).normalize(), "f")
    return f"{text}{unit}" if unit == "°" else f"{text} {unit}"


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


def _line_chart(title: str) -> pygal.Line:
    return pygal.Line(
        style=STYLE,
        js=[],
        disable_xml_declaration=True,
        width=720,
        height=320,
        show_dots=True,
        dots_size=4,
        stroke_style={"width": 2.5},
        legend_at_bottom=True,
        legend_at_bottom_columns=4,
        truncate_legend=-1,
        x_label_rotation=0,
        allow_interruptions=True,
        include_x_axis=True,
        explicit_size=False,
        title=None,
        print_values=False,
    )


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
        chart = _line_chart(metric.title)
        chart.x_labels = labels
        if len(labels) > MAX_ASSESSMENTS:
            # Every date would overlap the next: label some, draw every point.
            chart.x_labels_major_count = MAX_ASSESSMENTS // 2
            chart.show_minor_x_labels = False
        chart.y_title = metric.unit
        for name, points in (*series.items(), ("Difference", difference)):
            dash = DASHES[name]
            chart.add(
                name,
                points,
                stroke_style={"width": 2.5, **({"dasharray": dash} if dash else {})},
            )
        chart.add(
            "Threshold",
            [limit] * len(labels),
            # With a single assessment there is no line to draw: the dot shows the level.
            show_dots=len(labels) == 1,
            stroke_style={"width": 2, "dasharray": DASHES["Threshold"]},
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
                    f"Black dashed line{SINGLE_POINT if len(labels) == 1 else ''}:"
                    f" the asymmetry threshold, a difference of "
                    f"{_number(limit, metric.unit)} ({threshold.source}"
                    f"{', uncertain' if threshold.uncertain else ''})."
                ),
                caption=f"{metric.title}: {which}" if which else metric.title,
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
