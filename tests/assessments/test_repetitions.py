"""Repetitions found in synthetic knee flexion series: clean, noisy, gappy, and tricky."""

import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assessments.pose.repetitions import (
    Repetition,
    Sample,
    detect_repetitions,
    mean_of_first,
    peak_per_repetition,
    values_at_bottom,
)

# The project's autouse fixtures (cache, mail) are function-scoped; these tests don't use them.
property_test = settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)

FPS = 32  # a power of two keeps frame times exact in binary floating point
STANDING = 5.0  # knee flexion of someone standing, as a side camera sees it


@dataclass(frozen=True)
class Rep:
    depth: float
    down_s: float = 1.0
    hold_s: float = 0.3
    up_s: float = 1.0
    stand_after_s: float = 1.0


def _keyframes(reps: Sequence[Rep], *, stand_first_s: float = 1.0) -> list[tuple[float, float]]:
    keyframes = [(0.0, STANDING), (stand_first_s, STANDING)]
    t = stand_first_s
    for rep in reps:
        t += rep.down_s
        keyframes.append((t, rep.depth))
        t += rep.hold_s
        keyframes.append((t, rep.depth))
        t += rep.up_s
        keyframes.append((t, STANDING))
        t += rep.stand_after_s
        keyframes.append((t, STANDING))
    return keyframes


def _sampled(
    keyframes: Sequence[tuple[float, float]], *, until: float | None = None
) -> list[Sample]:
    """Sample a path through the keyframes at FPS, easing in and out between them (cosine)."""
    end = keyframes[-1][0] if until is None else until
    samples: list[Sample] = []
    segment = 0
    for frame in range(int(end * FPS) + 1):
        t = frame / FPS
        while segment < len(keyframes) - 2 and t > keyframes[segment + 1][0]:
            segment += 1
        (t0, a0), (t1, a1) = keyframes[segment], keyframes[segment + 1]
        progress = 0.0 if t1 == t0 else min(max((t - t0) / (t1 - t0), 0.0), 1.0)
        samples.append((t, a0 + (a1 - a0) * (1 - math.cos(math.pi * progress)) / 2))
    return samples


def _series(reps: Sequence[Rep], **kwargs: float) -> list[Sample]:
    return _sampled(_keyframes(reps, **kwargs))


def _first_time_above(samples: Sequence[Sample], threshold: float, after: float) -> float:
    return next(t for t, v in samples if t >= after and v is not None and v > threshold)


def _without(samples: Sequence[Sample], start: float, end: float) -> list[Sample]:
    """The samples with frames in [start, end) left out (None), as a dropped-out tracker gives."""
    return [(t, None if start <= t < end else v) for t, v in samples]


# Clean series


def test_clean_repetitions_are_counted_with_their_depth_and_timing() -> None:
    reps = [Rep(depth=90.0), Rep(depth=75.0), Rep(depth=104.0, down_s=1.5, up_s=0.8)]
    samples = _series(reps)
    keyframes = _keyframes(reps)

    found = detect_repetitions(samples)

    assert [r.peak for r in found] == pytest.approx([90.0, 75.0, 104.0], abs=1e-9)
    for index, repetition in enumerate(found):
        down_starts, bottom_reached, bottom_left, up_done = (
            keyframes[1 + 4 * index][0],
            keyframes[2 + 4 * index][0],
            keyframes[3 + 4 * index][0],
            keyframes[4 + 4 * index][0],
        )
        # The start is the first frame above 25°, the end the first one back under 15°.
        assert repetition.start == _first_time_above(samples, 25.0, down_starts)
        assert repetition.end == next(
            t for t, v in samples if t > bottom_left and v is not None and v < 15.0
        )
        assert bottom_reached <= repetition.bottom <= bottom_left
        assert repetition.end < up_done
        assert repetition.duration_s == repetition.end - repetition.start


def test_continuous_sinusoidal_repetitions() -> None:
    # Four squats of 2.5 s each, back to back, touching standing only for an instant.
    period = 2.5
    samples: list[Sample] = [
        (t, STANDING + 42.5 * (1 - math.cos(2 * math.pi * t / period)))
        for t in (frame / FPS for frame in range(int(4 * period * FPS) + 1))
    ]

    found = detect_repetitions(samples)

    assert len(found) == 4
    for index, repetition in enumerate(found):
        # The median of the frames around a sharp peak sits a little below it.
        assert repetition.peak == pytest.approx(90.0, abs=1.0)
        assert repetition.bottom == pytest.approx((index + 0.5) * period, abs=2 / FPS)


def test_standing_still_is_not_a_repetition() -> None:
    assert detect_repetitions([(frame / FPS, STANDING) for frame in range(5 * FPS)]) == []
    assert detect_repetitions([]) == []


# Noise


def test_noisy_repetitions_are_counted_once_each() -> None:
    rng = random.Random(20260608)
    depths = [92.0, 88.0, 95.0, 70.0, 85.0]
    samples = [(t, v + rng.gauss(0, 3.0)) for t, v in _series([Rep(depth=d) for d in depths])]
    # Pose glitches: single frames where the knee jumps (swapped with the other knee, say).
    for frame in (10, 11 * FPS // 10, 200, 401):
        samples[frame] = (samples[frame][0], 85.0)

    found = detect_repetitions(samples)

    assert [r.peak for r in found] == pytest.approx(depths, abs=4.0)


def test_without_smoothing_a_glitch_would_count() -> None:
    # The spike test above only means something if the spike would otherwise be a repetition.
    samples = _series([])
    samples[20] = (samples[20][0], 85.0)

    assert len(detect_repetitions(samples, smoothing_s=0)) == 1
    assert detect_repetitions(samples) == []


# Missing frames


def test_scattered_missing_frames_change_nothing() -> None:
    reps = [Rep(depth=90.0), Rep(depth=80.0), Rep(depth=100.0)]
    rng = random.Random(7)
    samples = [(t, None if rng.random() < 0.3 else v) for t, v in _series(reps)]

    found = detect_repetitions(samples)

    assert [r.peak for r in found] == pytest.approx([90.0, 80.0, 100.0], abs=1e-9)


def test_a_short_gap_in_the_middle_of_a_repetition_does_not_split_it() -> None:
    reps = [Rep(depth=90.0), Rep(depth=90.0), Rep(depth=90.0)]
    keyframes = _keyframes(reps)
    second_bottom = keyframes[6][0]  # the second rep's hold begins here
    # 0.6 s without a person, from the second rep's descent into its hold.
    samples = _without(_series(reps), second_bottom - 0.4, second_bottom + 0.2)

    found = detect_repetitions(samples)

    assert len(found) == 3
    assert found[1].start < second_bottom - 0.4
    assert found[1].end > second_bottom + 0.2


def test_a_movement_shorter_than_the_minimum_duration_is_no_repetition() -> None:
    # A 0.3 s dip: as deep as a repetition, too quick for a controlled one.
    quick = _series([Rep(depth=90.0, down_s=0.1, hold_s=0.1, up_s=0.1), Rep(depth=90.0)])

    assert len(detect_repetitions(quick)) == 2
    [slow] = detect_repetitions(quick, min_duration_s=0.4)
    assert slow.duration_s > 1.0


@pytest.mark.parametrize("fps", [30, 15, 12, 10])
def test_the_same_movement_counts_the_same_at_any_frame_rate(fps) -> None:
    samples = _series([Rep(depth=50.0), Rep(depth=70.0), Rep(depth=90.0, hold_s=0.0)])
    sampled = samples[:: round(FPS / fps)] if FPS % fps == 0 else _resampled(samples, fps)

    assert len(detect_repetitions(sampled, min_duration_s=0.4, smoothing_s=0.2)) == 3


def _resampled(samples: Sequence[Sample], fps: float) -> list[Sample]:
    """The samples nearest to each frame of a camera at ``fps``."""
    end = samples[-1][0]
    return [samples[round(n / fps * FPS)] for n in range(int(end * fps) + 1)]


def test_a_gap_at_the_bottom_lowers_the_peak_to_what_was_seen() -> None:
    keyframes = _keyframes([Rep(depth=90.0, hold_s=0.0)])
    bottom = keyframes[2][0]
    samples = _without(_series([Rep(depth=90.0, hold_s=0.0)]), bottom - 0.3, bottom + 0.3)

    (repetition,) = detect_repetitions(samples)

    assert 60.0 < repetition.peak < 90.0


def test_missing_frames_may_also_be_absent_from_the_series() -> None:
    samples = _without(_series([Rep(depth=90.0), Rep(depth=90.0)]), 2.0, 2.5)
    dropped = [(t, v) for t, v in samples if v is not None]

    assert detect_repetitions(dropped) == detect_repetitions(samples)
    assert len(detect_repetitions(dropped)) == 2


def test_reps_separated_by_standing_up_are_not_joined_by_missing_frames() -> None:
    # Standing up is seen for only a few frames between two runs of missing frames.
    reps = [Rep(depth=90.0, stand_after_s=0.6), Rep(depth=90.0)]
    keyframes = _keyframes(reps)
    stood_up = keyframes[4][0]
    samples = _without(_series(reps), stood_up - 0.5, stood_up + 0.1)
    samples = _without(samples, stood_up + 0.3, stood_up + 0.9)

    assert len(detect_repetitions(samples)) == 2


def test_a_long_gap_drops_the_repetition_it_hides() -> None:
    # 1.5 s without a person during the second rep: whether they stood up in between is unknown.
    reps = [Rep(depth=90.0), Rep(depth=90.0, hold_s=1.0), Rep(depth=70.0)]
    keyframes = _keyframes(reps)
    samples = _without(_series(reps), keyframes[5][0] + 0.2, keyframes[5][0] + 1.7)

    found = detect_repetitions(samples)

    assert [r.peak for r in found] == pytest.approx([90.0, 70.0], abs=1e-9)


# Wobbles, close repetitions, partial ones


def test_a_small_wobble_is_not_a_repetition() -> None:
    # A dip to 35° rises above the start threshold but never reaches the minimum depth.
    reps = [Rep(depth=90.0), Rep(depth=35.0), Rep(depth=80.0)]

    found = detect_repetitions(_series(reps))

    assert [r.peak for r in found] == pytest.approx([90.0, 80.0], abs=1e-9)


def test_wobbling_at_the_bottom_or_near_a_threshold_is_one_repetition() -> None:
    # Down to 28° (just over the start threshold), back to 20° (not under the end one), then a
    # lunge that shakes ±8° at the bottom.
    keyframes = [
        (0.0, STANDING),
        (1.0, STANDING),
        (1.5, 28.0),
        (1.8, 20.0),
        (2.5, 90.0),
        (2.7, 82.0),
        (2.9, 97.0),
        (3.1, 83.0),
        (3.3, 96.0),
        (4.3, STANDING),
        (5.0, STANDING),
    ]

    (repetition,) = detect_repetitions(_sampled(keyframes))

    assert repetition.start == pytest.approx(1.5, abs=0.1)
    assert repetition.peak == pytest.approx(96.0, abs=1.0)


def test_two_repetitions_close_together_are_two() -> None:
    reps = [Rep(depth=90.0, up_s=0.6, stand_after_s=0.0), Rep(depth=90.0, down_s=0.6)]

    found = detect_repetitions(_series(reps))

    assert len(found) == 2
    assert found[0].end < found[1].start
    assert found[1].start - found[0].end < 0.5


def test_coming_only_part_way_up_does_not_start_a_new_repetition() -> None:
    # Up to 30° and down again: the knee never got back under the end threshold.
    keyframes = [(0.0, STANDING), (1.0, STANDING), (2.0, 90.0), (3.0, 30.0)]
    keyframes += [(4.0, 85.0), (5.0, STANDING), (6.0, STANDING)]

    found = detect_repetitions(_sampled(keyframes))

    assert len(found) == 1
    assert found[0].peak == pytest.approx(90.0, abs=1.0)


def test_an_unfinished_repetition_at_the_end_is_dropped() -> None:
    keyframes = _keyframes([Rep(depth=90.0), Rep(depth=85.0)])
    t = keyframes[-1][0]
    keyframes += [(t + 1.0, 80.0)]  # the recording stops at the bottom of a third one

    found = detect_repetitions(_sampled(keyframes))

    assert [r.peak for r in found] == pytest.approx([90.0, 85.0], abs=1e-9)


def test_a_repetition_already_under_way_when_the_recording_starts_is_dropped() -> None:
    keyframes = [(0.0, 80.0), (1.0, STANDING), (2.0, STANDING), (3.0, 90.0), (4.0, STANDING)]

    found = detect_repetitions(_sampled(keyframes))

    assert len(found) == 1
    assert found[0].start > 2.0


# Arguments


def test_samples_must_be_in_time_order() -> None:
    with pytest.raises(ValueError, match="time order"):
        detect_repetitions([(0.0, 5.0), (0.1, 6.0), (0.05, 7.0)])


def test_thresholds_must_make_a_hysteresis() -> None:
    with pytest.raises(ValueError, match="end < start"):
        detect_repetitions([], start=20.0, end=20.0)
    with pytest.raises(ValueError, match="start <= min_peak"):
        detect_repetitions([], start=50.0, min_peak=40.0)


def test_thresholds_are_honoured() -> None:
    samples = _series([Rep(depth=50.0), Rep(depth=90.0)])

    assert len(detect_repetitions(samples)) == 2
    assert len(detect_repetitions(samples, min_peak=60.0)) == 1


# Properties


@property_test
@given(
    reps=st.lists(
        st.builds(
            Rep,
            depth=st.floats(50.0, 120.0),
            down_s=st.floats(0.5, 2.0),
            hold_s=st.floats(0.1, 1.0),  # sharp turns: see the sinusoid test
            up_s=st.floats(0.5, 2.0),
            stand_after_s=st.floats(0.3, 2.0),
        ),
        max_size=6,
    ),
    noise_deg=st.floats(0.0, 2.0),
    seed=st.integers(0, 2**32),
)
def test_every_generated_repetition_is_found_once(
    reps: list[Rep], noise_deg: float, seed: int
) -> None:
    rng = random.Random(seed)
    keyframes = _keyframes(reps)
    samples = [(t, v + rng.gauss(0, noise_deg)) for t, v in _sampled(keyframes)]

    found = detect_repetitions(samples)

    assert len(found) == len(reps)
    for index, (rep, repetition) in enumerate(zip(reps, found, strict=True)):
        down_starts, up_done = keyframes[1 + 4 * index][0], keyframes[4 + 4 * index][0]
        assert down_starts < repetition.start <= repetition.bottom <= repetition.end < up_done
        assert repetition.peak == pytest.approx(rep.depth, abs=1.5 + 2.5 * noise_deg)


series_values = st.one_of(st.none(), st.floats(0.0, 150.0))


@property_test
@given(values=st.lists(series_values, max_size=400), shift=st.integers(-100, 100))
def test_any_series_gives_ordered_deep_enough_repetitions_that_shift_with_time(
    values: list[float | None], shift: int
) -> None:
    samples = [(frame / FPS, value) for frame, value in enumerate(values)]

    found = detect_repetitions(samples)
    shifted = detect_repetitions([(t + shift, v) for t, v in samples])

    assert all(r.start <= r.bottom <= r.end for r in found)
    assert all(r.peak >= 40.0 for r in found)
    assert all(a.end < b.start for a, b in itertools.pairwise(found))
    # Each peak is a median of real frames, so one frame at least was that deep.
    for repetition in found:
        nearby = [
            v
            for t, v in samples
            if v is not None and abs(t - repetition.bottom) <= 0.1 and v >= repetition.peak
        ]
        assert nearby
    assert shifted == [
        Repetition(r.start + shift, r.bottom + shift, r.end + shift, r.peak) for r in found
    ]


# Values of another series per repetition


def _two_reps() -> tuple[list[Sample], list[Repetition]]:
    samples = _series([Rep(depth=90.0), Rep(depth=90.0)])
    return samples, detect_repetitions(samples)


def test_peak_per_repetition_reads_another_series_inside_each_window() -> None:
    samples, found = _two_reps()
    assert len(found) == 2
    first, second = found
    fppa: list[Sample] = []
    for t, _ in samples:
        if first.start <= t <= first.end:
            fppa.append((t, 12.0 if t == first.bottom else 3.0))
        elif second.start <= t <= second.end:
            fppa.append((t, -4.0 if t == second.start else 17.5))
        else:
            fppa.append((t, 40.0))  # standing, outside every window: must be ignored

    assert peak_per_repetition(fppa, found) == [12.0, 17.5]
    assert peak_per_repetition(fppa, found, reducer=min) == [3.0, -4.0]


def test_a_window_without_usable_values_gives_none() -> None:
    samples, found = _two_reps()
    fppa = [(t, None if found[0].start <= t <= found[0].end else 9.0) for t, _ in samples]

    assert peak_per_repetition(fppa, found) == [None, 9.0]
    assert peak_per_repetition(fppa, []) == []


def test_values_at_bottom_take_the_median_around_the_lowest_point() -> None:
    samples, found = _two_reps()
    # FPPA grows through each repetition; the protocol wants it where the knee is deepest.
    fppa: list[Sample] = [(t, 100 * t) for t, _ in samples]
    fppa = [(t, 1000.0 if t == found[1].bottom + 1 / FPS else v) for t, v in fppa]

    readings = values_at_bottom(fppa, found)

    assert readings[0] == pytest.approx(100 * found[0].bottom, abs=1e-9)
    # One wild frame next to the bottom moves the median by one frame's worth, no more.
    assert readings[1] == pytest.approx(100 * found[1].bottom, abs=100 / FPS + 1e-9)


def test_values_at_bottom_is_none_without_a_usable_frame_nearby() -> None:
    samples, found = _two_reps()
    fppa = _without([(t, 10.0) for t, _ in samples], found[0].bottom - 0.2, found[0].bottom + 0.2)

    assert values_at_bottom(fppa, found) == [None, 10.0]


# Mean of trials


def test_mean_of_first_three_usable_trials() -> None:
    assert mean_of_first([None, 10.0, 12.0, None, 14.0, 100.0]) == pytest.approx(12.0)
    assert mean_of_first([8.0, math.nan, 10.0]) == pytest.approx(9.0)
    assert mean_of_first([8.0, 10.0, 30.0], n=2) == pytest.approx(9.0)
    assert mean_of_first([None, None]) is None
    assert mean_of_first([]) is None


def test_mean_of_first_needs_a_positive_count() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        mean_of_first([1.0], n=0)
