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
    HINT_LEVEL,
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


def lunges(
    analysis,
    *,
    bottoms,
    jitter: float = 0.0,
    gaps: bool = False,
    fps: float = 12,
    standing_flexion: float = 8.0,
    point_jitter: float = 0.0,
) -> None:
    """Feed lunges of the left leg at ``fps``: the pelvis goes down by 12 % of the frame's
    height, the knee bends from ``standing_flexion`` to each bottom's flexion (3D landmarks) and
    caves in to its valgus (2D) over 3.25 s, then the person stands for a second. ``jitter`` and
    ``point_jitter`` add that much random error to the 3D (metres) and 2D (frame heights)
    landmarks; ``gaps`` leaves 15 % of the frames and a quarter of a second on the way down of
    each without a person."""
    random.seed(7)
    time = 0.0

    def still(seconds: float) -> None:
        nonlocal time
        for _ in range(round(seconds * fps)):
            analysis.feed(
                time,
                shaken(standing(), point_jitter),
                world(left_flexion=standing_flexion, jitter=jitter),
            )
            time += 1 / fps

    still(1.0)
    steps = round(3.25 * fps)
    for flexion, valgus in bottoms:
        for step in range(steps):
            phase = math.sin(math.pi * step / (steps - 1))  # 0 → 1 → 0
            seconds = step / fps
            missing = gaps and (random.random() < 0.15 or 0.67 <= seconds <= 0.92)
            bend = standing_flexion + (flexion - standing_flexion) * phase
            analysis.feed(
                time,
                None
                if missing
                else shaken(standing(depth=0.12 * phase, valgus_deg=valgus * phase), point_jitter),
                None if missing else world(left_flexion=bend, jitter=jitter),
            )
            time += 1 / fps
        still(1.0)


def shaken(points: list, jitter: float) -> list:
    """The landmarks, each moved by a random error of ``jitter`` (standard deviation)."""
    if not jitter:
        return points
    return [
        Point(p.x + random.gauss(0, jitter), p.y + random.gauss(0, jitter), p.visibility)
        for p in points
    ]


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


@pytest.mark.parametrize("fps", [30, 15, 12, 10])
def test_repetitions_count_the_same_at_any_frame_rate_through_jitter(fps) -> None:
    # A pixel's worth of error on every 2D landmark (at 640 pixels) and a centimetre on every
    # 3D one, at the rates the server analyses and a phone films.
    analysis = LungeAnalysis(side="left", aspect=1.0)
    lunges(
        analysis,
        bottoms=[(85.0, 12.0), (95.0, 14.0), (100.0, 16.0)],
        jitter=0.01,
        point_jitter=1 / 640,
        fps=fps,
    )
    summary = analysis.finish()
    assert len(summary.repetitions) == 3
    # A pixel on each of hip, knee and ankle moves the angle by about 1.5° (SD), a median
    # of the frames around the bottom by about 1°.
    assert [value for _, value in summary.values["fppa_deg"]] == [
        pytest.approx(12, abs=3.0),
        pytest.approx(14, abs=3.0),
        pytest.approx(16, abs=3.0),
    ]


def test_thresholds_follow_the_clients_own_standing_knee() -> None:
    # The model reads some people's straight knee as 20-25° (14-25° on the frontal clip): the
    # knee must bend 25° more than that, whatever that is. Bending 15-20° more is no lunge.
    for standing_flexion, bottoms, counted in ((22.0, (80, 85, 90), 3), (60.0, (75, 78, 80), 0)):
        analysis = LungeAnalysis(side="left", aspect=1.0)
        lunges(
            analysis,
            bottoms=[(bottom, 12.0) for bottom in bottoms],
            standing_flexion=standing_flexion,
        )
        summary = analysis.finish()
        assert len(summary.repetitions) == counted, standing_flexion
        assert summary.baseline["knee_flexion_deg"] == pytest.approx(standing_flexion, abs=0.5)


def test_a_jolt_shorter_than_a_repetition_counts_for_nothing() -> None:
    # The pelvis and the knee "dip" for a quarter of a second: a glitch of the estimate (or a
    # stumble), not a controlled repetition.
    analysis = LungeAnalysis(side="left", aspect=1.0)
    time = 0.0
    for number in range(90):
        dip = 1.0 if 40 <= number < 43 else 0.0  # 3 frames at 12 fps
        analysis.feed(time, standing(depth=0.12 * dip), world(left_flexion=8 + 80 * dip))
        time += 1 / 12
    assert analysis.finish().repetitions == []


def test_a_value_outside_the_protocols_range_is_withheld_with_why() -> None:
    # The second lunge's knee caves in by 55°, beyond the FPPA's range (-30 to 40°): it is not
    # offered, and says why; the other trials are.
    analysis = LungeAnalysis(side="left", aspect=1.0)
    lunges(analysis, bottoms=[(85.0, 12.0), (95.0, 55.0), (100.0, 16.0)])
    summary = analysis.finish()
    assert len(summary.repetitions) == 3
    assert summary.values["fppa_deg"] == [(1, 12), (3, 16)]
    [withheld] = summary.withheld
    assert (withheld["field"], withheld["trial"]) == ("fppa_deg", 2)
    assert withheld["value"] == pytest.approx(55, abs=1)
    assert "is outside the test's range (-30 to 40°)" in withheld["reason"]


def test_a_live_value_outside_the_range_is_shown_as_such() -> None:
    analysis = LungeAnalysis(side="left", aspect=1.0)
    inside = analysis.feed(0.0, standing(valgus_deg=10), world())
    assert (inside.value, inside.in_range) == (pytest.approx(10, abs=0.1), True)
    analysis = LungeAnalysis(side="left", aspect=1.0)
    outside = analysis.feed(0.0, standing(valgus_deg=50), world())
    assert (outside.value, outside.in_range) == (pytest.approx(50, abs=0.1), False)


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


def rolled(points: list, degrees: float) -> list:
    """The landmarks as a camera rolled by ``degrees`` about the picture's centre sees them."""
    turn = math.radians(degrees)
    return [
        Point(
            0.5 + (p.x - 0.5) * math.cos(turn) - (p.y - 0.5) * math.sin(turn),
            0.5 + (p.x - 0.5) * math.sin(turn) + (p.y - 0.5) * math.cos(turn),
            p.visibility,
        )
        for p in points
    ]


@pytest.mark.parametrize("roll", [0.0, 5.0, -5.0])
def test_the_pelvic_drop_is_measured_from_the_level_the_client_stood_at(roll) -> None:
    # The camera rolled by 5° tilts the hips' line by 5° in every frame: standing still on both
    # feet first, the client shows where level is, and the drop is measured from there.
    analysis = SingleLegStanceAnalysis(side="right", aspect=1.0)
    readings = []
    for number in range(60):
        points = standing()
        drop = 0.01 if number > 10 else 0.0
        points[23] = Point(points[23].x, points[23].y + drop, 1)
        readings.append(analysis.feed(number / 12, rolled(points, roll)))
    # Until the client has stood still for LEVEL_REFERENCE_S, nothing is measured, and the
    # client is asked to stand still.
    assert readings[0].left_out == "no_level_reference"
    assert readings[0].framing.hint == HINT_LEVEL
    summary = analysis.finish()
    assert abs(summary.baseline["level_tilt_deg"]) == pytest.approx(abs(roll), abs=0.2)
    [(_, tilt)] = summary.values["pelvic_tilt_deg"]
    assert tilt == pytest.approx(math.degrees(math.atan2(0.01, 0.1)), abs=0.5)


def test_without_standing_still_first_no_pelvic_drop_is_made_up() -> None:
    analysis = SingleLegStanceAnalysis(side="right", aspect=1.0)
    for number in range(60):
        points = standing()
        # Swaying from side to side from the first frame: never still long enough.
        sway = 0.05 * math.sin(number)
        analysis.feed(number / 12, [Point(p.x + sway, p.y, p.visibility) for p in points])
    summary = analysis.finish()
    assert summary.values == {}
    assert summary.frames_left_out_by == {"no_level_reference": 60}
    assert summary.note.startswith("No level reference was taken")


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
