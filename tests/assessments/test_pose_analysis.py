"""From landmarks to a test's numbers: framing hints, values per frame with confidence, frames
left out, repetitions and the values to record, on synthetic poses with known answers, and on
the real clips of ../shared/media."""

import math
from pathlib import Path

import av
import pytest

from assessments.pose.analysis import (
    HINT_FACE_FRONT,
    HINT_GOOD,
    HINT_NOBODY,
    HINT_SIDE,
    HINT_WHOLE_BODY,
    MAX_SAMPLES,
    LungeAnalysis,
    SingleLegStanceAnalysis,
    StraightLegRaiseAnalysis,
    framing_check,
)
from assessments.pose.geometry import Point
from assessments.pose.model import pose_model, vision_available

MEDIA = Path(__file__).resolve().parents[3] / "shared" / "media"


def standing(*, depth: float = 0.0, valgus_deg: float = 0.0, visibility: float = 1.0) -> list:
    """A person facing the camera (their left on the image's right), hips lowered by ``depth``
    (of the frame height), the left knee pushed toward the midline by ``valgus_deg``."""
    points = [Point(0.5, 0.5, 0.0)] * 33
    hip_y = 0.5 + depth
    thigh = 0.2
    spots = {
        11: (0.62, 0.25),
        12: (0.38, 0.25),  # shoulders
        23: (0.55, hip_y),
        24: (0.45, hip_y),  # hips
        25: (0.55, hip_y + thigh),
        26: (0.45, hip_y + thigh),  # knees
        27: (0.55, 0.9),
        28: (0.45, 0.9),  # ankles
        29: (0.555, 0.92),
        30: (0.445, 0.92),  # heels
        31: (0.55, 0.95),
        32: (0.45, 0.95),  # toes
    }
    points = list(points)
    for index, (x, y) in spots.items():
        points[index] = Point(x, y, visibility)
    if valgus_deg:
        # Move the left knee toward the midline so the thigh and shank meet at the angle.
        hip, ankle = points[23], points[27]
        mid_y = (hip.y + ankle.y) / 2
        half = (ankle.y - hip.y) / 2
        offset = half * math.tan(math.radians(valgus_deg / 2))
        points[25] = Point(hip.x - offset, mid_y, visibility)
    return points


def test_framing_hints() -> None:
    nobody = framing_check(None, view="front", aspect=1)
    assert (nobody.ok, nobody.hint) == (False, HINT_NOBODY)
    assert framing_check(standing(), view="front", aspect=1).hint == HINT_GOOD
    cut_off = standing()
    cut_off[31] = Point(0.55, 1.0, 1.0)  # a foot at the edge
    assert framing_check(cut_off, view="front", aspect=1).hint == HINT_WHOLE_BODY
    hidden = standing()
    hidden[28] = Point(0.45, 0.9, 0.2)
    assert framing_check(hidden, view="front", aspect=1).hint == HINT_WHOLE_BODY
    assert framing_check(standing(), view="side", aspect=1).hint == HINT_SIDE
    side_on = standing()
    side_on[11], side_on[12] = Point(0.51, 0.25, 1), Point(0.49, 0.25, 1)
    assert framing_check(side_on, view="front", aspect=1).hint == HINT_FACE_FRONT
    assert framing_check(side_on, view="side", aspect=1).ok


def test_a_lunge_gives_the_fppa_at_the_bottom_of_each_repetition() -> None:
    analysis = LungeAnalysis(side="left", aspect=1.0)
    time = 0.0
    # Three lunges: the knee caves in as the hips go down (12°, 14°, 16° at the bottom).
    for bottom_valgus in (12.0, 14.0, 16.0):
        for step in range(40):
            phase = math.sin(math.pi * step / 39)  # 0 → 1 → 0
            frame = standing(depth=0.12 * phase, valgus_deg=bottom_valgus * phase)
            reading = analysis.feed(time, frame)
            time += 1 / 12
        for _ in range(12):  # standing between repetitions
            analysis.feed(time, standing())
            time += 1 / 12
    assert reading.framing.ok
    summary = analysis.finish()
    assert len(summary.repetitions) == 3
    trials = summary.values["fppa_deg"]
    assert [trial for trial, _ in trials] == [1, 2, 3]
    for (_, value), expected in zip(trials, (12, 14, 16), strict=True):
        assert value == pytest.approx(expected, abs=1.0)
        assert (value * 2) == int(value * 2)  # on the field's 0.5° step
    assert summary.frames_used == summary.frames
    assert summary.confidence == 1.0


def test_low_confidence_frames_are_left_out_and_counted() -> None:
    low = LungeAnalysis(side="right", aspect=1.0)
    frames = [standing()] * 5
    for number, frame in enumerate(frames):
        low.feed(number / 12, frame)
    blurry = standing()
    blurry[26] = Point(blurry[26].x, blurry[26].y, 0.3)  # the measured knee barely seen
    reading = low.feed(1.0, blurry)
    assert reading.value is None
    assert low.summary.frames_low_confidence + low.summary.frames_badly_framed == 1
    nobody = low.feed(1.1, None)
    assert nobody.framing.hint == HINT_NOBODY
    assert nobody.skeleton is None
    summary = low.finish()
    assert summary.frames == 7
    assert summary.frames_used == 5


def test_the_straight_leg_raise_takes_the_highest_peak() -> None:
    analysis = StraightLegRaiseAnalysis(side="left", aspect=1.0)
    time = 0.0
    for peak in (40.0, 55.0):
        for step in range(48):
            angle = math.radians(peak * math.sin(math.pi * step / 47))
            points = standing()
            # Side view, lying: both legs from the hip along +x; the left one raised.
            points[11], points[12] = Point(0.2, 0.6, 1), Point(0.21, 0.6, 1)
            points[23], points[24] = Point(0.45, 0.6, 1), Point(0.46, 0.6, 1)
            points[27] = Point(0.45 + 0.4 * math.cos(angle), 0.6 - 0.4 * math.sin(angle), 1)
            points[28] = Point(0.86, 0.6, 1)
            analysis.feed(time, points)
            time += 1 / 12
    summary = analysis.finish()
    assert [rep["peak"] for rep in summary.repetitions] == [
        pytest.approx(40, abs=1.5),
        pytest.approx(55, abs=1.5),
    ]
    assert summary.values["slr_angle_deg"] == [(1, pytest.approx(55, abs=1.5))]


def test_single_leg_stance_records_the_tilt_held() -> None:
    analysis = SingleLegStanceAnalysis(side="right", aspect=1.0)
    for number in range(60):
        points = standing()
        # Standing on the right leg (image left); the lifted left hip drops a little.
        drop = 0.01 if number > 10 else 0.0
        points[23] = Point(points[23].x, points[23].y + drop, 1)
        analysis.feed(number / 12, points)
    summary = analysis.finish()
    [(trial, tilt)] = summary.values["pelvic_tilt_deg"]
    assert trial == 1
    assert tilt == pytest.approx(math.degrees(math.atan2(0.01, 0.1)), abs=0.5)


def test_memory_stays_bounded_over_a_long_stream() -> None:
    analysis = LungeAnalysis(side="left", aspect=1.0)
    frame = standing()
    for number in range(MAX_SAMPLES + 500):
        analysis.feed(number / 15, frame)
    assert len(analysis.series) == MAX_SAMPLES
    assert len(analysis.depth) == MAX_SAMPLES
    assert len(analysis._hips) <= 8 * 15 + 1
    assert analysis.summary.frames == MAX_SAMPLES + 500


@pytest.mark.parametrize(
    "clip", ["pose2sim-single-person-cam01.mp4", "pose2sim-single-person-cam02.mp4"]
)
def test_the_model_finds_the_person_in_most_frames_of_the_real_clips(clip) -> None:
    # The test command installs the vision extra; without it this says so.
    assert vision_available(), "camera measurement needs the vision extra: scripts/install vision"
    model = pose_model()
    found = 0
    with av.open(str(MEDIA / clip)) as container:
        frames = list(container.decode(video=0))
    for frame in frames:
        rgb = frame.to_ndarray(format="rgb24", width=360, height=640)
        result = model.detect(rgb)
        if result is not None:
            found += 1
            assert len(result.landmarks) == 33
    model.close()
    assert found >= 0.9 * len(frames)
