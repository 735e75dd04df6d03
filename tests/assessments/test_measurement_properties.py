"""Properties any correct measurement has, checked on real video with the real pose model.

The clips of tests/media (a person filmed from the front and from a diagonal; no ground truth,
see its README) go through what the media worker does to a frame (``analysis_image``: RGB,
downscaled to 640 pixels on the long side), MediaPipe, the side correction and the analyses.
Then:

- a mirrored clip swaps left and right, and nothing else (a valgus knee stays valgus);
- the same clip sent at full size, at half size or at 640 pixels measures the same;
- a camera rolled by 5° either way changes no limb angle, and no pelvic drop once the level
  reference is taken;
- the same movement counts the same repetitions at 30, 15 and 12 frames a second, played
  forward and backward several times;
- the model's swaps of left and right are put right, and a client turned 35-40° from the camera
  is not measured as a front view.

The single-leg stance needs the client to stand still on both feet first (its level
reference): the clip's own start is only a tenth of a second of that, so a run starts with a
second of it, the clip's first still frames played back and forth. The lunge's frames are
compared on the clip as filmed, each frame once (not on that second of one pose).
"""

import functools
import itertools
import statistics
from collections.abc import Callable
from pathlib import Path

import av
import numpy
import pytest
from PIL import Image

from assessments.media_worker import analysis_image
from assessments.pose.analysis import (
    HINT_FACE_FRONT,
    Analysis,
    FrameReading,
    LungeAnalysis,
    SingleLegStanceAnalysis,
    Summary,
    smoothed_series,
)
from assessments.pose.geometry import LEFT_HIP, RIGHT_HIP
from assessments.pose.model import PoseResult, pose_model, vision_unavailable

# One worker runs them all (scripts/test distributes by group), so each playback goes through
# the model once per run.
pytestmark = pytest.mark.xdist_group("real clips")

MEDIA = Path(__file__).resolve().parents[1] / "media"
FRONTAL = "pose2sim-single-person-cam02.mp4"
DIAGONAL = "pose2sim-single-person-cam01.mp4"
CLIP_FPS = 60
# The clip's frames in which the client stands still (the leg starts to lift at frame 8).
STILL_FRAMES = (1, 2, 3, 4, 5, 6, 5, 4, 3, 2)
STILL_SECONDS = 1.0

Run = list[tuple[float, PoseResult | None]]


@functools.cache
def clip(name: str) -> tuple[av.VideoFrame, ...]:
    """The clip's frames as decoded (YUV, full size), as the worker's peer gets them."""
    with av.open(str(MEDIA / name)) as container:
        return tuple(container.decode(video=0))


def camera(
    frame: av.VideoFrame, *, mirror: bool = False, scale: float = 1.0, roll: float = 0.0
) -> numpy.ndarray:
    """The frame as a differently placed or configured camera would send it, through the media
    worker's own conversion (``analysis_image``)."""
    if mirror:
        frame = av.VideoFrame.from_ndarray(
            frame.to_ndarray(format="rgb24")[:, ::-1].copy(), format="rgb24"
        )
    if scale != 1.0:
        frame = frame.reformat(
            width=round(frame.width * scale / 2) * 2, height=round(frame.height * scale / 2) * 2
        )
    image = analysis_image(frame)
    if roll:
        # Counter-clockwise by ``roll`` degrees about the centre, the size kept (the corners
        # come in black, as from a camera that is not level). Turned once downscaled: the
        # model sees the same picture, for a tenth of the cost of turning 1080×1920.
        turned = Image.fromarray(image).rotate(roll, resample=Image.Resampling.BILINEAR)
        image = numpy.asarray(turned)
    return image


def timeline(*, passes: int = 1, fps: float = CLIP_FPS, still_first: bool = True) -> list:
    """(time in seconds, frame number) of a playback: optionally a second of standing still,
    then the clip forward, backward, forward... ``passes`` times, as a camera at ``fps`` frames
    a second would catch it (the clip was filmed at 60)."""
    frames = len(clip(FRONTAL))
    played: list[int] = []
    if still_first:
        played += [
            STILL_FRAMES[n % len(STILL_FRAMES)] for n in range(round(STILL_SECONDS * CLIP_FPS))
        ]
    for number in range(passes):
        pass_ = list(range(frames)) if number % 2 == 0 else list(range(frames - 1, -1, -1))
        played += pass_[1:] if number else pass_
    step = CLIP_FPS / fps
    picked, position = [], 0.0
    while round(position) < len(played):
        picked.append(round(position))
        position += step
    return [(index / CLIP_FPS, played[index]) for index in picked]


@functools.cache
def poses(
    name: str = FRONTAL,
    *,
    mirror: bool = False,
    scale: float = 1.0,
    roll: float = 0.0,
    passes: int = 1,
    fps: float = CLIP_FPS,
    still_first: bool = True,
) -> Run:
    """The model's landmarks for each frame of a playback, through the worker's conversion."""
    assert vision_unavailable() is None, "camera measurement needs the vision extra"
    frames = clip(name)
    model = pose_model()
    run: Run = []
    try:
        for time, number in timeline(passes=passes, fps=fps, still_first=still_first):
            image = camera(frames[number], mirror=mirror, scale=scale, roll=roll)
            run.append((time, model.detect(image)))
    finally:
        model.close()
    return run


def analysed(
    kind: type[Analysis], side: str, run: Run
) -> tuple[dict[float, FrameReading], Summary, Analysis]:
    analysis = kind(side=side, aspect=360 / 640)
    readings = {}
    for time, found in run:
        if found is None:
            readings[time] = analysis.feed(time, None)
        else:
            readings[time] = analysis.feed(time, found.landmarks, found.world_landmarks)
    return readings, analysis.finish(), analysis


def differences(
    one: dict[float, FrameReading],
    other: dict[float, FrameReading],
    *,
    value: Callable[[FrameReading], float | None] = lambda reading: reading.value,
) -> list[float]:
    """Per frame that both used, with a value inside the test's range: the difference."""
    found = []
    for time, reading in one.items():
        twin = other.get(time)
        if twin is None or not (reading.in_range and twin.in_range):
            continue
        a, b = value(reading), value(twin)
        if a is not None and b is not None:
            found.append(abs(a - b))
    return found


def median_and_p95(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), statistics.quantiles(values, n=20)[-1]


MEASURES = [(LungeAnalysis, "FPPA"), (SingleLegStanceAnalysis, "pelvic drop")]


def run_for(kind: type[Analysis], **variant: float | bool) -> Run:
    """The playback a test's analysis is run on (both start standing still)."""
    return poses(**variant)


def compared(kind: type[Analysis], readings: dict[float, FrameReading]) -> dict:
    """The frames whose values are compared: the lunge's from the clip only."""
    if kind is SingleLegStanceAnalysis:
        return readings
    return {time: reading for time, reading in readings.items() if time >= STILL_SECONDS}


@pytest.mark.parametrize(("kind", "measure"), MEASURES, ids=[name for _, name in MEASURES])
def test_a_mirrored_clip_swaps_left_and_right(kind, measure) -> None:
    for side, twin in (("left", "right"), ("right", "left")):
        mirrored, _, _ = analysed(kind, side, run_for(kind, mirror=True))
        original, _, _ = analysed(kind, twin, run_for(kind))
        gaps = differences(compared(kind, mirrored), original)
        assert len(gaps) >= 50, f"{measure}: only {len(gaps)} frames to compare"
        median, p95 = median_and_p95(gaps)
        assert median <= 3.0, f"{measure}, mirrored {side} against {twin}: median {median:.2f}°"
        assert p95 <= 8.0, f"{measure}, mirrored {side} against {twin}: p95 {p95:.2f}°"


def test_a_valgus_knee_stays_valgus_in_the_mirror() -> None:
    # On this clip the client's left knee reads valgus and the right one varus: each keeps its
    # sign in the mirror, on the other side.
    signs = []
    for side, twin in (("left", "right"), ("right", "left")):
        mirrored, _, _ = analysed(LungeAnalysis, side, run_for(LungeAnalysis, mirror=True))
        original, _, _ = analysed(LungeAnalysis, twin, run_for(LungeAnalysis))
        signs += [
            (reading.value > 0, mirrored[time].value > 0)
            for time, reading in compared(LungeAnalysis, original).items()
            if reading.value is not None
            and abs(reading.value) >= 5
            and mirrored[time].value is not None
        ]
    assert sum(original for original, _ in signs) >= 20  # valgus frames
    assert sum(not original for original, _ in signs) >= 20  # varus frames
    assert sum(original == mirrored for original, mirrored in signs) >= 0.95 * len(signs)


@pytest.mark.parametrize(("kind", "measure"), MEASURES, ids=[name for _, name in MEASURES])
def test_the_clip_sent_smaller_measures_the_same(kind, measure) -> None:
    for side in ("left", "right"):
        full, _, _ = analysed(kind, side, run_for(kind))
        for scale, label in ((0.5, "half size"), (640 / 1920, "640 pixels")):
            smaller, _, _ = analysed(kind, side, run_for(kind, scale=scale))
            gaps = differences(compared(kind, smaller), full)
            assert len(gaps) >= 50
            assert statistics.median(gaps) <= 2.0, f"{measure}, {side}, {label}"


@pytest.mark.parametrize("roll", [5.0, -5.0])
def test_a_rolled_camera_changes_no_limb_angle(roll) -> None:
    for side in ("left", "right"):
        level, _, level_analysis = analysed(LungeAnalysis, side, run_for(LungeAnalysis))
        rolled, _, rolled_analysis = analysed(
            LungeAnalysis, side, run_for(LungeAnalysis, roll=roll)
        )
        gaps = differences(compared(LungeAnalysis, rolled), level)
        assert len(gaps) >= 50
        assert statistics.median(gaps) <= 2.0, f"FPPA {side}, rolled {roll}°"
        # The knee's 3D flexion too, as the repetitions are confirmed with it (smoothed over
        # REPETITION_SMOOTHING_S), where both runs trusted the model's 3D.
        level_flexion = dict(smoothed_series(list(level_analysis.flexion)))
        flexion_gaps = [
            abs(value - level_flexion[time])
            for time, value in smoothed_series(list(rolled_analysis.flexion))
            if time >= STILL_SECONDS and value is not None and level_flexion.get(time) is not None
        ]
        assert len(flexion_gaps) >= 30
        assert statistics.median(flexion_gaps) <= 2.0, f"knee flexion {side}, rolled {roll}°"


@pytest.mark.parametrize("roll", [5.0, -5.0])
def test_a_rolled_camera_changes_no_pelvic_drop_once_the_level_is_taken(roll) -> None:
    for side in ("left", "right"):
        level, level_summary, _ = analysed(
            SingleLegStanceAnalysis, side, run_for(SingleLegStanceAnalysis)
        )
        rolled, rolled_summary, _ = analysed(
            SingleLegStanceAnalysis, side, run_for(SingleLegStanceAnalysis, roll=roll)
        )
        # The roll shows in the level reference (the hips' line while standing still)...
        shift = rolled_summary.baseline["level_tilt_deg"] - level_summary.baseline["level_tilt_deg"]
        assert abs(abs(shift) - 5) <= 1.5, shift
        # ...which takes it out of every frame's drop.
        gaps = differences(rolled, level)
        assert len(gaps) >= 50
        assert statistics.median(gaps) <= 2.0, f"pelvic drop standing on {side}, {roll}°"


@pytest.mark.parametrize("side", ["left", "right"])
def test_repetitions_do_not_depend_on_the_frame_rate(side) -> None:
    # Forward and backward four times: the client sinks into the standing leg and comes back
    # up twice (the clip ends low, so a single pass has no whole repetition).
    counts = {}
    for fps in (30, 15, 12):
        run = poses(passes=4, fps=fps, still_first=False)
        _, summary, _ = analysed(LungeAnalysis, side, run)
        counts[fps] = len(summary.repetitions)
    assert counts == {30: 2, 15: 2, 12: 2}
    _, twice, _ = analysed(LungeAnalysis, side, poses(passes=2, fps=15, still_first=False))
    assert len(twice.repetitions) == 1


def test_the_models_swaps_of_left_and_right_are_put_right() -> None:
    run = run_for(SingleLegStanceAnalysis)
    # The model itself labels the client's left hip on the picture's left (a back view) in
    # a good part of this frontal clip...
    found = [pose for _, pose in run if pose is not None]
    backwards = sum(pose.landmarks[LEFT_HIP].x < pose.landmarks[RIGHT_HIP].x for pose in found)
    assert backwards >= 0.2 * len(found)
    readings, summary, _ = analysed(SingleLegStanceAnalysis, "left", run)
    assert summary.sides_corrected >= 0.2 * len(found)
    # ...the analysis keeps it on the picture's right (the client faces the camera) in every
    # frame it uses: the skeleton's points are the client's own sides (index 2: left hip).
    used = [reading for reading in readings.values() if reading.value is not None]
    assert len(used) >= 0.7 * len(found)
    assert all(reading.skeleton[2][0] > reading.skeleton[3][0] for reading in used)
    # And the pelvic drop keeps its sign from frame to frame: no swap flips it.
    drops = [reading.value for reading in used]
    assert max(abs(b - a) for a, b in itertools.pairwise(drops)) < 10


def test_a_client_turned_away_from_the_camera_is_not_measured_as_a_front_view() -> None:
    readings, summary, _ = analysed(LungeAnalysis, "left", poses(DIAGONAL, still_first=False))
    assert summary.frames_left_out_by["turned"] >= 0.9 * summary.frames
    assert summary.values == {}
    turned = [reading for reading in readings.values() if reading.left_out == "turned"]
    assert {reading.framing.hint for reading in turned} == {HINT_FACE_FRONT}


def test_only_values_inside_the_tests_range_are_proposed() -> None:
    for kind in (LungeAnalysis, SingleLegStanceAnalysis):
        for side in ("left", "right"):
            for run in (
                run_for(kind),
                run_for(kind, mirror=True),
                poses(passes=4, fps=15, still_first=False),
            ):
                analysis = kind(side=side, aspect=360 / 640)
                _, summary, _ = analysed(kind, side, run)
                low, high = analysis.value_range
                for trials in summary.values.values():
                    assert all(low <= value <= high for _, value in trials)
                for withheld in summary.withheld:
                    assert not low <= withheld["value"] <= high
                    assert "outside the test's range" in withheld["reason"]
