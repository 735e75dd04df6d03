"""Repetitions in a live series: how low the pelvis is for lunges, squats and step-downs (in
percent of the torso's length below standing), the raised leg's angle for a straight leg raise
(degrees). Thresholds are in the series' own unit, and the analyses set them relative to the
client's own standing (or lying) baseline (`baseline`), so that nobody's build or camera moves
them.

A series is a sequence of ``(time_s, value)`` samples in time order, one per video frame, where
``value`` is None for a frame that was left out (no person found, or landmarks below the
confidence threshold). Non-finite values count as left out too.

A repetition is counted only when it is seen whole: the value rising above ``start`` from
below it, reaching at least ``min_peak``, and falling back below ``end``, lasting at least
``min_duration_s``, with no run of missing frames longer than ``max_gap_s`` in between.
Anything else (a recording that starts or ends mid-movement, a movement hidden by a long gap)
is dropped rather than reported with a made-up start, end or depth.
"""

import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

Sample = tuple[float, float | None]


@dataclass(frozen=True, slots=True)
class Repetition:
    """One down-and-up movement. Times are in seconds on the series' clock.

    ``start`` is the first frame with the (smoothed) value above the start threshold, ``end``
    the first frame back below the end threshold, ``bottom`` the frame of the largest value (the
    lowest point of a lunge), and ``peak`` that smoothed value.
    """

    start: float
    bottom: float
    end: float
    peak: float

    @property
    def duration_s(self) -> float:
        return self.end - self.start


def _usable(samples: Iterable[Sample]) -> list[tuple[float, float]]:
    """The samples that carry a value, after checking the clock runs forward."""
    usable: list[tuple[float, float]] = []
    previous = -math.inf
    for time_s, value in samples:
        if not math.isfinite(time_s):
            raise ValueError(f"sample time must be finite, not {time_s}")
        if time_s < previous:
            raise ValueError(f"samples must be in time order: {time_s} s comes after {previous} s")
        previous = time_s
        if value is not None and math.isfinite(value):
            usable.append((time_s, value))
    return usable


def _segments(
    usable: list[tuple[float, float]], max_gap_s: float
) -> list[list[tuple[float, float]]]:
    """Split where frames are missing for longer than ``max_gap_s``.

    Nothing is known about what happened inside a long gap (the person may have stood up and
    gone down again), so neither smoothing nor a repetition may reach across one.
    """
    segments: list[list[tuple[float, float]]] = []
    for sample in usable:
        if segments and sample[0] - segments[-1][-1][0] <= max_gap_s:
            segments[-1].append(sample)
        else:
            segments.append([sample])
    return segments


def median_smoothed(segment: list[tuple[float, float]], window_s: float) -> list[float]:
    """Centred running median over ``window_s`` seconds.

    A median rather than a mean: a pose model's errors come as single-frame jumps (a knee
    swapped with the other knee, say), which a median discards and a mean smears into a bump
    that can look like a shallow repetition. The window is in seconds, not frames, so a dropped
    frame or a variable frame rate does not change how much is smoothed.
    """
    half = window_s / 2
    smoothed: list[float] = []
    low = high = 0
    for time_s, _ in segment:
        while segment[low][0] < time_s - half:
            low += 1
        while high < len(segment) and segment[high][0] <= time_s + half:
            high += 1
        smoothed.append(statistics.median(value for _, value in segment[low:high]))
    return smoothed


def detect_repetitions(
    samples: Iterable[Sample],
    *,
    min_peak: float = 40.0,
    start: float = 25.0,
    end: float = 15.0,
    smoothing_s: float = 0.15,
    max_gap_s: float = 0.75,
    min_duration_s: float = 0.0,
) -> list[Repetition]:
    """Find each complete down-and-up movement in a series, in time order.

    The series is smoothed with a ``smoothing_s`` running median, then read with hysteresis: a
    repetition starts when the value rises above ``start`` and ends when it falls below the
    lower ``end``, so noise around either threshold neither ends a repetition early nor starts
    a second one. A movement whose peak stays under ``min_peak`` is a wobble or a shift of
    weight, not a repetition, and is ignored; so is one shorter than ``min_duration_s`` (a
    jolt of the estimate, which no controlled movement is). Both are in seconds, not frames,
    so the same movement counts the same at any frame rate.

    Missing frames are skipped: a gap of up to ``max_gap_s`` is bridged (the repetition goes
    on; its peak is the largest value actually seen), which is shorter than standing up and
    going down again in a controlled movement, so two repetitions are never joined across one.
    A longer gap drops the repetition in progress. A repetition still in progress at the end of
    the series is not reported: it may yet go deeper, and it has no end.

    Defaults suit a knee flexion in degrees (standing reads 0-10°, a lunge's front knee about
    90°); the analyses pass thresholds above the client's own baseline.
    """
    if not end < start <= min_peak:
        raise ValueError("thresholds must satisfy end < start <= min_peak")
    if smoothing_s < 0 or max_gap_s <= 0 or min_duration_s < 0:
        raise ValueError("smoothing_s and min_duration_s must be >= 0 and max_gap_s > 0")

    repetitions: list[Repetition] = []
    for segment in _segments(_usable(samples), max_gap_s):
        smoothed = median_smoothed(segment, smoothing_s)
        # A repetition must be seen starting: a segment that opens mid-movement waits until
        # the value is back under the start threshold.
        armed = False
        began: float | None = None
        peak = -math.inf
        bottom = 0.0
        for (time_s, _), value in zip(segment, smoothed, strict=True):
            if began is None:
                if armed and value > start:
                    began, peak, bottom = time_s, value, time_s
                elif value <= start:
                    armed = True
                continue
            if value > peak:
                peak, bottom = value, time_s
            if value < end:
                if peak >= min_peak and time_s - began >= min_duration_s:
                    repetitions.append(
                        Repetition(start=began, bottom=bottom, end=time_s, peak=peak)
                    )
                began = None
    return repetitions


def _in_window(series: Iterable[Sample], low: float, high: float) -> list[tuple[float, float]]:
    return [
        (time_s, value)
        for time_s, value in series
        if low <= time_s <= high and value is not None and math.isfinite(value)
    ]


def peak_per_repetition(
    series: Sequence[Sample],
    repetitions: Iterable[Repetition],
    *,
    reducer: Callable[[list[float]], float] = max,
) -> list[float | None]:
    """For each repetition, ``reducer`` over another series' usable values in its window.

    With the default ``max`` and an FPPA series this is the largest valgus of each repetition
    (pass ``min`` for the largest varus). The window is [start, end], inclusive; a repetition
    whose window holds no usable value gets None, so the result lines up with ``repetitions``.
    Note that PROTOCOLS.md §3 reads FPPA at the lowest point: see `values_at_bottom`.
    """
    peaks: list[float | None] = []
    for repetition in repetitions:
        values = [value for _, value in _in_window(series, repetition.start, repetition.end)]
        peaks.append(reducer(values) if values else None)
    return peaks


def values_at_bottom(
    series: Sequence[Sample],
    repetitions: Iterable[Repetition],
    *,
    half_window_s: float = 0.1,
) -> list[float | None]:
    """For each repetition, the median of another series within ``half_window_s`` of its bottom.

    This is the protocol's reading of FPPA "at the lowest point of the movement" (PROTOCOLS.md
    §3). A median of the few frames around the bottom rather than the one frame at it, so one
    noisy frame does not decide the result; None when none of those frames is usable.
    """
    if half_window_s < 0:
        raise ValueError("half_window_s must be >= 0")
    readings: list[float | None] = []
    for repetition in repetitions:
        window = _in_window(
            series, repetition.bottom - half_window_s, repetition.bottom + half_window_s
        )
        readings.append(statistics.median(value for _, value in window) if window else None)
    return readings


def mean_of_first(values: Iterable[float | None], n: int = 3) -> float | None:
    """The mean of the first ``n`` usable values: the protocols' "average of 3 trials".

    None and non-finite values (trials without a usable measurement) are skipped, so the mean
    is over the first ``n`` trials that have one. Fewer than ``n`` usable values give the mean of
    those there are; none gives None.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    usable: list[float] = []
    for value in values:
        if value is not None and math.isfinite(value):
            usable.append(value)
            if len(usable) == n:
                break
    return statistics.fmean(usable) if usable else None


def baseline(samples: Iterable[Sample], *, quantile: float = 0.1) -> float | None:
    """The client's own resting value in a series: its ``quantile`` (the 10th percentile by
    default) of the usable values, None without any.

    A lunge's repetitions return to standing between them, so a low percentile of the whole
    measurement is how the client stands (their knees, their build, their camera), while a
    few frames of the estimate's noise below it do not move it.
    """
    values = sorted(value for _, value in samples if value is not None and math.isfinite(value))
    if not values:
        return None
    return values[min(len(values) - 1, int(quantile * len(values)))]
