"""From landmarks to a test's numbers: framing hints, values per frame with confidence, frames
left out, repetitions and the values to record, on synthetic poses with known answers, and on
the real clips of tests/media."""

import math
import random
from pathlib import Path

import av
import numpy
import pytest

from assessments.pose.analysis import (
    HINT_FACE_FRONT,
    HINT_GOOD,
    HINT_NOBODY,
    HINT_SIDE,
    HINT_TURN_ROUND_FRONT,
    HINT_UNCLEAR,
    HINT_WHOLE_BODY,
    MAX_SAMPLES,
    LungeAnalysis,
    SingleLegStanceAnalysis,
    StraightLegRaiseAnalysis,
)
from assessments.pose.geometry import Point
from assessments.pose.model import pose_model, vision_unavailable
from tests.assessments.synthetic_poses import ScriptedLunge, standing, world

MEDIA = Path(__file__).resolve().parents[1] / "media"
NEEDS_VISION = "camera measurement needs the vision extra: scripts/install vision"


def hint(analysis, points, world_points=None) -> tuple[bool, str, str]:
    reading = analysis.feed(len(analysis.series) / 12, points, world_points)
    return reading.framing.ok, reading.framing.hint, reading.left_out


def test_framing_hints() -> None:
    assert hint(LungeAnalysis(side="left", aspect=1), None) == (False, HINT_NOBODY, "nobody")
    assert hint(LungeAnalysis(side="left", aspect=1), standing()) == (True, HINT_GOOD, "")
    cut_off = standing()
    cut_off[31] = Point(0.55, 1.0, 1.0)  # a foot at the edge
    assert hint(LungeAnalysis(side="left", aspect=1), cut_off) == (
        False,
        HINT_WHOLE_BODY,
        "out_of_frame",
    )
    # Framing is about where the person is, not how clearly a landmark is seen: an ankle in the
    # picture but barely visible (in shadow, say) is framed right; its low visibility shows in
    # the confidence of the values it takes part in.
    hidden = standing()
    hidden[28] = Point(0.45, 0.9, 0.2)
    assert hint(LungeAnalysis(side="left", aspect=1), hidden)[0]
    # The straight leg raise is filmed side-on: someone square to the camera is turned.
    assert hint(StraightLegRaiseAnalysis(side="left", aspect=1), standing()) == (
        False,
        HINT_SIDE,
        "turned",
    )
    side_on = standing()
    side_on[11], side_on[12] = Point(0.51, 0.25, 1), Point(0.49, 0.25, 1)
    side_on[23], side_on[24] = Point(0.505, 0.5, 1), Point(0.495, 0.5, 1)
    assert hint(LungeAnalysis(side="left", aspect=1), side_on) == (
        False,
        HINT_FACE_FRONT,
        "turned",
    )
    assert hint(StraightLegRaiseAnalysis(side="left", aspect=1), side_on)[2] != "turned"


def from_behind() -> list:
    """Someone with their back to the camera: their left on the picture's left, and each
    heel lower in the picture than the toes (nearer the camera)."""
    points = [Point(1 - p.x, p.y, p.visibility) for p in standing()]
    for heel, toe in ((29, 31), (30, 32)):
        points[heel], points[toe] = (
            Point(points[heel].x, 0.95, 1.0),
            Point(points[toe].x, 0.92, 1.0),
        )
    return points


def test_a_lunge_filmed_from_behind_asks_the_client_to_turn_round() -> None:
    analysis = LungeAnalysis(side="left", aspect=1)
    readings = [analysis.feed(number / 12, from_behind(), world()) for number in range(12)]
    # The first frame or two may go either way (the test asks for a front view, which decides
    # a tie); from then on the labels and the feet agree that this is a back view.
    assert {reading.left_out for reading in readings[2:]} == {"facing"}
    assert readings[-1].framing.hint == HINT_TURN_ROUND_FRONT
    assert analysis.finish().frames_left_out_by["facing"] >= 10


def test_the_single_leg_stance_maps_sides_by_the_view() -> None:
    # From behind, the client's left leg is on the picture's left: standing on the left leg,
    # the right (lifted) hip dropping is a positive tilt, whichever way the model labelled.
    for labels_swapped in (False, True):
        analysis = SingleLegStanceAnalysis(side="left", aspect=1.0)
        for number in range(60):
            points = from_behind()
            if number > 10:
                points[24] = Point(points[24].x, points[24].y + 0.01, 1)
            if labels_swapped:
                points = [points[i] for i in MIRRORED_LABELS]
            analysis.feed(number / 12, points)
        [(_, tilt)] = analysis.finish().values["pelvic_tilt_deg"]
        assert tilt == pytest.approx(math.degrees(math.atan2(0.01, 0.1)), abs=0.5)


# The index of each landmark's other-side twin (0, the nose, is its own).
MIRRORED_LABELS = list(range(33))
for _left, _right in [
    (1, 4),
    (2, 5),
    (3, 6),
    (7, 8),
    (9, 10),
    *zip(range(11, 33, 2), range(12, 33, 2), strict=True),
]:
    MIRRORED_LABELS[_left], MIRRORED_LABELS[_right] = _right, _left


def lunges(analysis, *, bottoms, jitter: float = 0.0, gaps: bool = False) -> None:
    """Feed lunges of the left leg: the knee bends to each bottom's flexion (3D landmarks) and
    caves in to its valgus (2D), then the person stands for a second."""
    random.seed(7)
    time = 0.0
    for _ in range(12):
        analysis.feed(time, standing(), world())
        time += 1 / 12
    for flexion, valgus in bottoms:
        for step in range(40):
            phase = math.sin(math.pi * step / 39)  # 0 → 1 → 0
            missing = gaps and (random.random() < 0.15 or 8 <= step <= 10)
            analysis.feed(
                time,
                None if missing else standing(depth=0.12 * phase, valgus_deg=valgus * phase),
                None if missing else world(left_flexion=8 + (flexion - 8) * phase, jitter=jitter),
            )
            time += 1 / 12
        for _ in range(12):  # standing between repetitions
            analysis.feed(time, standing(), world(jitter=jitter))
            time += 1 / 12


def test_a_lunge_gives_the_fppa_at_the_bottom_of_each_repetition() -> None:
    analysis = LungeAnalysis(side="left", aspect=1.0)
    lunges(analysis, bottoms=[(85.0, 12.0), (95.0, 14.0), (100.0, 16.0)])
    summary = analysis.finish()
    # Repetitions come from the knee's flexion, exact on exact landmarks.
    assert [rep["knee_flexion_deg"] for rep in summary.repetitions] == [
        pytest.approx(85, abs=0.5),
        pytest.approx(95, abs=0.5),
        pytest.approx(100, abs=0.5),
    ]
    trials = summary.values["fppa_deg"]
    assert [trial for trial, _ in trials] == [1, 2, 3]
    for (_, value), expected in zip(trials, (12, 14, 16), strict=True):
        assert value == pytest.approx(expected, abs=1.0)
        assert (value * 2) == int(value * 2)  # on the field's 0.5° step
    assert summary.frames_used == summary.frames
    assert summary.confidence == 1.0


def test_lunge_repetitions_survive_noisy_3d_landmarks_and_missing_frames() -> None:
    analysis = LungeAnalysis(side="left", aspect=1.0)
    # 1 cm of random error on every world coordinate (a few degrees of knee angle), 15 % of
    # the frames without a person, and a quarter of a second lost on the way down of each.
    lunges(
        analysis,
        bottoms=[(85.0, 12.0), (95.0, 14.0), (100.0, 16.0)],
        jitter=0.01,
        gaps=True,
    )
    summary = analysis.finish()
    assert [rep["knee_flexion_deg"] for rep in summary.repetitions] == [
        pytest.approx(85, abs=6.0),
        pytest.approx(95, abs=6.0),
        pytest.approx(100, abs=6.0),
    ]
    assert [value for _, value in summary.values["fppa_deg"]] == [
        pytest.approx(12, abs=1.5),
        pytest.approx(14, abs=1.5),
        pytest.approx(16, abs=1.5),
    ]
    assert summary.frames_used < summary.frames


def test_hips_dropping_without_the_knee_bending_is_no_repetition() -> None:
    # Bending forward or sinking into the hips: the hips drop in the picture, the knee stays
    # straight. Repetitions come from knee flexion, as the protocol says, not from hip height.
    analysis = LungeAnalysis(side="left", aspect=1.0)
    time = 0.0
    for _ in range(3):
        for step in range(40):
            phase = math.sin(math.pi * step / 39)
            analysis.feed(time, standing(depth=0.12 * phase), world())
            time += 1 / 12
    summary = analysis.finish()
    assert summary.repetitions == []
    assert "fppa_deg" not in summary.values


def test_the_fppa_is_read_at_the_lowest_point_not_at_its_own_peak() -> None:
    analysis = LungeAnalysis(side="left", aspect=1.0)
    time = 0.0
    for _ in range(12):
        analysis.feed(time, standing(), world())
        time += 1 / 12
    for step in range(60):
        # The pelvis is lowest and the knee most bent (90°) at step 20, where the knee is at
        # exactly 10° of valgus; it caves in further on the way up, to 25° at step 32.
        lowest = max(0.0, 1 - abs(step - 20) / 20)
        flexion = 8 + 82 * lowest
        valgus = 10 + 15 * max(0.0, 1 - abs(step - 32) / 12)
        analysis.feed(
            time,
            standing(depth=0.12 * lowest, valgus_deg=valgus),
            world(left_flexion=flexion),
        )
        time += 1 / 12
    for _ in range(12):
        analysis.feed(time, standing(), world())
        time += 1 / 12
    summary = analysis.finish()
    [repetition] = summary.repetitions
    assert repetition["knee_flexion_deg"] == pytest.approx(90.0, abs=0.5)
    assert repetition["fppa_at_bottom"] == pytest.approx(10.0, abs=0.5)
    assert repetition["fppa_peak"] == pytest.approx(25.0, abs=0.5)
    assert summary.values["fppa_deg"] == [(1, 10)]


def test_without_3d_landmarks_no_lunge_repetition_is_made_up() -> None:
    analysis = LungeAnalysis(side="left", aspect=1.0)
    time = 0.0
    for _ in range(3):
        for step in range(40):
            phase = math.sin(math.pi * step / 39)
            reading = analysis.feed(time, standing(depth=0.12 * phase, valgus_deg=12 * phase))
            time += 1 / 12
    assert reading.value is not None  # the live FPPA is still shown
    summary = analysis.finish()
    assert summary.repetitions == []
    assert summary.values == {}
    assert summary.note == (
        "No repetition could be found: this pose model gives no 3D landmarks to measure the "
        "knee's flexion from. Type the values instead."
    )


def test_low_confidence_frames_are_left_out_and_counted() -> None:
    analysis = LungeAnalysis(side="right", aspect=1.0)
    for number in range(5):
        analysis.feed(number / 12, standing(), world())
    # The measured knee barely seen (in shadow, or behind the other leg), in the picture.
    blurry = standing()
    blurry[26] = Point(blurry[26].x, blurry[26].y, 0.3)
    reading = analysis.feed(0.5, blurry, world())
    assert reading.value is None
    assert reading.confidence == 0.3
    assert (reading.framing.ok, reading.framing.hint) == (False, HINT_UNCLEAR)
    assert analysis.summary.frames_left_out_by == {"low_confidence": 1}
    # A landmark the value does not use may be hard to see: the frame still counts.
    other_knee_hidden = standing()
    other_knee_hidden[25] = Point(other_knee_hidden[25].x, other_knee_hidden[25].y, 0.2)
    reading = analysis.feed(0.6, other_knee_hidden, world())
    assert reading.value is not None
    assert reading.framing.hint == HINT_GOOD
    # A foot out of the picture is a framing problem, with its own hint.
    cut_off = standing()
    cut_off[32] = Point(0.45, 1.02, 0.9)
    reading = analysis.feed(0.7, cut_off, world())
    assert reading.value is None
    assert reading.framing.hint == HINT_WHOLE_BODY
    assert analysis.summary.frames_left_out_by == {"low_confidence": 1, "out_of_frame": 1}
    nobody = analysis.feed(0.8, None)
    assert nobody.framing.hint == HINT_NOBODY
    assert nobody.skeleton is None
    summary = analysis.finish()
    assert summary.frames == 9
    assert summary.frames_used == 6
    assert summary.frames_left_out_by == {"low_confidence": 1, "out_of_frame": 1, "nobody": 1}


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
    assert len(analysis.flexion) == MAX_SAMPLES
    assert analysis.summary.frames == MAX_SAMPLES + 500


@pytest.mark.parametrize(
    "clip", ["pose2sim-single-person-cam01.mp4", "pose2sim-single-person-cam02.mp4"]
)
def test_the_model_finds_the_person_in_most_frames_of_the_real_clips(clip) -> None:
    # The test command installs the vision extra; without it this says so.
    assert vision_unavailable() is None, NEEDS_VISION
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


def test_a_lunge_analysis_runs_on_a_real_clip_with_the_3d_landmarks() -> None:
    # No ground truth here (see tests/media/README.md): the whole chain runs on real video,
    # and the knee flexion comes from the model's world landmarks in every frame used whose
    # labels the model had right (its 3D is not trusted where it took front for back).
    assert vision_unavailable() is None, NEEDS_VISION
    model = pose_model()
    analysis = LungeAnalysis(side="left", aspect=360 / 640)
    with av.open(str(MEDIA / "pose2sim-single-person-cam02.mp4")) as container:
        frames = list(container.decode(video=0))
    for number, frame in enumerate(frames):
        result = model.detect(frame.to_ndarray(format="rgb24", width=360, height=640))
        assert result is None or len(result.world_landmarks) == 33
        if result is None:
            analysis.feed(number / 60, None)
        else:
            analysis.feed(number / 60, result.landmarks, result.world_landmarks)
    model.close()
    flexion = [value for _, value in analysis.flexion if value is not None]
    summary = analysis.finish()
    assert summary.frames == len(frames)
    assert summary.frames_used >= 0.9 * len(frames)
    # The model swaps the labels of this clip in about a third of its frames.
    assert 0.2 * len(frames) <= summary.sides_corrected <= 0.5 * len(frames)
    assert len(flexion) >= 0.9 * (summary.frames_used - summary.sides_corrected)
    assert all(0 <= value < 150 for value in flexion)
    assert all(rep["knee_flexion_deg"] >= 40 for rep in summary.repetitions)


def test_the_scripted_test_model_gives_exact_lunge_values() -> None:
    # The model the end-to-end test selects with POSE_MODEL: its script, fed at 12 frames a
    # second, gives three repetitions at exactly 90° with exactly the scripted valgus.
    model = ScriptedLunge()
    analysis = LungeAnalysis(side="left", aspect=640 / 360)
    image = numpy.zeros((360, 640, 3), dtype=numpy.uint8)
    for number in range(len(ScriptedLunge.script) + 5):
        pose = model.detect(image)
        analysis.feed(number / 12, pose.landmarks, pose.world_landmarks)
    summary = analysis.finish()
    assert [rep["knee_flexion_deg"] for rep in summary.repetitions] == [90.0, 90.0, 90.0]
    assert summary.values["fppa_deg"] == [(1, 12), (2, 14), (3, 16)]
