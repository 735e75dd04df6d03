"""From landmarks, frame by frame, to the numbers of a guided test (PROTOCOLS.md section 3).

An ``Analysis`` is fed one frame's landmarks at a time and says, for that frame, whether the
framing is right (and if not, a plain hint for the client), the live value with its
confidence, and the points of a small skeleton. At the end it sums up: repetitions with their
peaks, the values to record, and how many frames were left out for low confidence.

Framing is judged from where the person is: found at all, every landmark of the skeleton
inside the picture, turned as the test needs. How clearly the landmarks are seen (their
visibility) is a separate matter: a value's confidence is the lowest visibility of the
landmarks it is computed from, and a frame whose value falls under ``MIN_VISIBILITY`` is left
out and counted as low confidence, with a hint about seeing the person clearly rather than one
about stepping back.

- Lunge / single-leg squat (front view): the frontal plane projection angle (FPPA) of the
  measured leg, positive = valgus. Repetitions are found from the knee's flexion, as the
  protocol says, computed from the model's 3D world landmarks (a knee bending towards a camera
  that faces it barely changes the 2D angle); each repetition's value is the FPPA at its lowest
  point (the deepest flexion), and the first three give the trials. A model without world
  landmarks gives the live FPPA but no repetitions.
- Straight leg raise (side view): the angle of the raised leg to the resting one; repetitions
  from that angle, the highest peak is the value.
- Single-leg stance (view from behind or the front): the tilt of the pelvis, positive when the
  lifted leg's side drops; the tilt held (90th percentile over the hold) is the value.

Camera-measured values are 2D estimates ("measured from video"); the clinician accepts or
overrides them.
"""

import math
import statistics
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from assessments.pose.geometry import (
    LEFT_ANKLE,
    LEFT_FOOT_INDEX,
    LEFT_HEEL,
    LEFT_HIP,
    LEFT_KNEE,
    LEFT_SHOULDER,
    MIN_VISIBILITY,
    RIGHT_ANKLE,
    RIGHT_FOOT_INDEX,
    RIGHT_HEEL,
    RIGHT_HIP,
    RIGHT_KNEE,
    RIGHT_SHOULDER,
    DegeneratePoseError,
    Point,
    Point3,
    confidence,
    fppa_deg,
    knee_flexion_3d_deg,
    landmarks_for,
    other_side,
    pelvic_drop,
    slr_angle_deg,
)
from assessments.pose.repetitions import detect_repetitions, peak_per_repetition, values_at_bottom

# The landmarks drawn and kept: shoulders, hips, knees, ankles, heels and toes.
SKELETON = (
    LEFT_SHOULDER,
    RIGHT_SHOULDER,
    LEFT_HIP,
    RIGHT_HIP,
    LEFT_KNEE,
    RIGHT_KNEE,
    LEFT_ANKLE,
    RIGHT_ANKLE,
    LEFT_HEEL,
    RIGHT_HEEL,
    LEFT_FOOT_INDEX,
    RIGHT_FOOT_INDEX,
)
WHOLE_BODY = SKELETON
# Inside the picture with a little margin: a landmark on the edge is a guess.
EDGE = 0.01
# Shoulder width against torso height: wide facing the camera (or away), narrow side-on.
FACING_RATIO = 0.45
SIDE_ON_RATIO = 0.3
# Knee flexion thresholds of a lunge repetition (3D angle, degrees). MediaPipe's world
# landmarks read 5-20° for someone standing; a lunge's front knee reaches about 90°, a single-
# leg squat or step-down 50-70°.
LUNGE_START_FLEXION_DEG = 30.0
LUNGE_END_FLEXION_DEG = 20.0
LUNGE_MIN_PEAK_FLEXION_DEG = 40.0
# Samples kept per measurement: 10 minutes at the analysis rate. Older ones are dropped (and
# still counted), so a long stream uses the same memory as a short one.
MAX_SAMPLES = 10 * 60 * 15

HINT_NOBODY = "Nobody is in view: stand in front of the camera."
HINT_WHOLE_BODY = "Step back so that your whole body, including both feet, is in the picture."
HINT_FACE = "Turn to face the camera (or, for this test, with your back to it)."
HINT_FACE_FRONT = "Turn to face the camera."
HINT_SIDE = "Turn side-on to the camera."
HINT_UNCLEAR = (
    "The camera cannot see your legs clearly: add some light and move anything in front of them."
)
HINT_GOOD = "Good: hold this position in the picture."


@dataclass(frozen=True)
class Framing:
    ok: bool
    hint: str


def framing_check(points: Sequence[Point] | None, *, view: str, aspect: float) -> Framing:
    """Is the whole body in the picture, both feet too, turned as the test needs?

    Only where the landmarks are counts here. A model places a landmark it cannot see where it
    guesses it to be: outside the picture when the body part is, inside (with low visibility)
    when it is only hidden or in shadow. The latter is a matter of confidence, not framing.
    """
    if not points:
        return Framing(False, HINT_NOBODY)
    for index in WHOLE_BODY:
        point = points[index]
        if not (EDGE <= point.x <= 1 - EDGE and EDGE <= point.y <= 1 - EDGE):
            return Framing(False, HINT_WHOLE_BODY)
    left, right = points[LEFT_SHOULDER], points[RIGHT_SHOULDER]
    shoulder_width = math.dist((left.x * aspect, left.y), (right.x * aspect, right.y))
    shoulders = ((left.x + right.x) / 2 * aspect, (left.y + right.y) / 2)
    hips = (
        (points[LEFT_HIP].x + points[RIGHT_HIP].x) / 2 * aspect,
        (points[LEFT_HIP].y + points[RIGHT_HIP].y) / 2,
    )
    # Standing or lying (the leg raise is done on the back): the torso's length either way.
    torso = math.dist(shoulders, hips)
    if torso < 1e-6:
        return Framing(False, HINT_WHOLE_BODY)
    ratio = shoulder_width / torso
    if view == "side" and ratio > SIDE_ON_RATIO:
        return Framing(False, HINT_SIDE)
    if view in ("front", "back") and ratio < FACING_RATIO:
        return Framing(False, HINT_FACE_FRONT if view == "front" else HINT_FACE)
    return Framing(True, HINT_GOOD)


@dataclass(frozen=True)
class FrameReading:
    """What one frame gave: the live value (None when left out) and why not."""

    time: float
    framing: Framing
    value: float | None
    confidence: float | None
    skeleton: list[list[float]] | None


@dataclass
class Summary:
    """The result of a measurement."""

    frames: int = 0
    frames_used: int = 0
    frames_low_confidence: int = 0
    frames_badly_framed: int = 0
    repetitions: list[dict[str, Any]] = field(default_factory=list)
    # Field key → list of (trial, value), rounded to the field's step.
    values: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    confidence: float | None = None
    # Why nothing could be recorded, when the reason is not the person's movement.
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "frames_used": self.frames_used,
            "frames_low_confidence": self.frames_low_confidence,
            "frames_badly_framed": self.frames_badly_framed,
            "repetitions": self.repetitions,
            "values": {key: [list(pair) for pair in pairs] for key, pairs in self.values.items()},
            "confidence": self.confidence,
            "note": self.note,
        }


def round_to_step(value: float, step: float = 0.5) -> float:
    rounded = round(value / step) * step
    return int(rounded) if rounded == int(rounded) else rounded


class Analysis:
    """One measurement of one test and side. Subclasses say what a frame's value is."""

    protocol = ""
    view = "front"
    field = ""

    def __init__(self, *, side: str, aspect: float) -> None:
        if side not in ("left", "right"):
            raise ValueError("side must be left or right")
        self.side = side
        self.aspect = aspect
        self.series: deque[tuple[float, float | None]] = deque(maxlen=MAX_SAMPLES)
        self.confidences: deque[float] = deque(maxlen=MAX_SAMPLES)
        self.summary = Summary()

    def feed(
        self,
        time: float,
        points: Sequence[Point] | None,
        world: Sequence[Point3] | None = None,
    ) -> FrameReading:
        """One frame: its landmarks, and the model's 3D world landmarks when it gives them."""
        self.summary.frames += 1
        framing = framing_check(points, view=self.view, aspect=self.aspect)
        skeleton = (
            [
                [round(points[i].x, 4), round(points[i].y, 4), round(points[i].visibility, 2)]
                for i in SKELETON
            ]
            if points
            else None
        )
        value = score = None
        if points and framing.ok:
            try:
                value, score = self.measure(time, points, world)
            except DegeneratePoseError:
                value, score = None, None
            if value is not None and score is not None and score < MIN_VISIBILITY:
                self.summary.frames_low_confidence += 1
                value = None
                framing = Framing(False, HINT_UNCLEAR)
        elif points:
            self.summary.frames_badly_framed += 1
        if value is not None:
            self.summary.frames_used += 1
            self.confidences.append(score)
        self.series.append((time, value))
        return FrameReading(time, framing, value, score, skeleton)

    def measure(
        self, time: float, points: Sequence[Point], world: Sequence[Point3] | None
    ) -> tuple[float, float]:
        """The frame's value and its confidence (the lowest visibility it depends on)."""
        raise NotImplementedError

    def finish(self) -> Summary:
        if self.confidences:
            self.summary.confidence = round(statistics.fmean(self.confidences), 2)
        return self.summary


class LungeAnalysis(Analysis):
    protocol = "lunge"
    view = "front"
    field = "fppa_deg"

    def __init__(self, *, side: str, aspect: float) -> None:
        super().__init__(side=side, aspect=aspect)
        # Knee flexion of the measured leg per frame, None where the frame was left out.
        self.flexion: deque[tuple[float, float | None]] = deque(maxlen=MAX_SAMPLES)
        self._frame_flexion: float | None = None
        self._world_seen = False

    def feed(
        self,
        time: float,
        points: Sequence[Point] | None,
        world: Sequence[Point3] | None = None,
    ) -> FrameReading:
        self._frame_flexion = None
        reading = super().feed(time, points, world)
        # The flexion of a frame left out (for framing or confidence) is left out with it.
        self.flexion.append((time, self._frame_flexion if reading.value is not None else None))
        return reading

    def measure(
        self, time: float, points: Sequence[Point], world: Sequence[Point3] | None
    ) -> tuple[float, float]:
        leg = landmarks_for(self.side)
        hip, knee, ankle = points[leg.hip], points[leg.knee], points[leg.ankle]
        other_hip = points[leg.other_hip]
        value = fppa_deg(hip, knee, ankle, other_hip=other_hip, aspect=self.aspect)
        if world:
            self._world_seen = True
            try:
                self._frame_flexion = knee_flexion_3d_deg(
                    world[leg.hip], world[leg.knee], world[leg.ankle]
                )
            except DegeneratePoseError:
                self._frame_flexion = None
        return value, confidence(hip, knee, ankle, other_hip)

    def finish(self) -> Summary:
        summary = super().finish()
        series = list(self.series)
        reps = detect_repetitions(
            list(self.flexion),
            min_peak_deg=LUNGE_MIN_PEAK_FLEXION_DEG,
            start_deg=LUNGE_START_FLEXION_DEG,
            end_deg=LUNGE_END_FLEXION_DEG,
            smoothing_s=0.15,
        )
        # The repetition's bottom is its deepest knee flexion: where the protocol reads FPPA.
        at_bottom = values_at_bottom(series, reps)
        peaks = peak_per_repetition(series, reps)
        summary.repetitions = [
            {
                "start": round(rep.start, 2),
                "bottom": round(rep.bottom, 2),
                "end": round(rep.end, 2),
                "knee_flexion_deg": round(rep.peak_flexion_deg, 1),
                "fppa_at_bottom": None if bottom is None else round(bottom, 1),
                "fppa_peak": None if peak is None else round(peak, 1),
            }
            for rep, bottom, peak in zip(reps, at_bottom, peaks, strict=True)
        ]
        trials = [
            (trial, round_to_step(value))
            for trial, value in enumerate((v for v in at_bottom if v is not None), start=1)
            if trial <= 3
        ]
        if trials:
            summary.values[self.field] = trials
        elif summary.frames_used and not self._world_seen:
            summary.note = (
                "No repetition could be found: this pose model gives no 3D landmarks to measure "
                "the knee's flexion from. Type the values instead."
            )
        return summary


class StraightLegRaiseAnalysis(Analysis):
    protocol = "aslr"
    view = "side"
    field = "slr_angle_deg"

    def measure(
        self, time: float, points: Sequence[Point], world: Sequence[Point3] | None
    ) -> tuple[float, float]:
        raised, resting = landmarks_for(self.side), landmarks_for(other_side(self.side))
        hip, ankle = points[raised.hip], points[raised.ankle]
        rest_hip, rest_ankle = points[resting.hip], points[resting.ankle]
        value = slr_angle_deg(
            hip=hip, ankle=ankle, rest_hip=rest_hip, rest_ankle=rest_ankle, aspect=self.aspect
        )
        return value, confidence(hip, ankle, rest_hip, rest_ankle)

    def finish(self) -> Summary:
        summary = super().finish()
        series = list(self.series)
        reps = detect_repetitions(
            series, min_peak_deg=20.0, start_deg=12.0, end_deg=6.0, smoothing_s=0.15
        )
        peaks = peak_per_repetition(series, reps)
        summary.repetitions = [
            {
                "start": round(rep.start, 2),
                "end": round(rep.end, 2),
                "peak": None if peak is None else round(peak, 1),
            }
            for rep, peak in zip(reps, peaks, strict=True)
        ]
        usable = [peak for peak in peaks if peak is not None]
        if usable:
            summary.values[self.field] = [(1, round_to_step(max(usable)))]
        return summary


class SingleLegStanceAnalysis(Analysis):
    protocol = "single_leg_stance"
    view = "back"
    field = "pelvic_tilt_deg"

    def measure(
        self, time: float, points: Sequence[Point], world: Sequence[Point3] | None
    ) -> tuple[float, float]:
        stance, lifted = landmarks_for(self.side), landmarks_for(other_side(self.side))
        stance_hip, lifted_hip = points[stance.hip], points[lifted.hip]
        drop = pelvic_drop(stance_hip=stance_hip, lifted_hip=lifted_hip, aspect=self.aspect)
        return drop.tilt_deg, confidence(stance_hip, lifted_hip)

    def finish(self) -> Summary:
        summary = super().finish()
        usable = sorted(value for _, value in self.series if value is not None)
        if usable:
            # The 90th percentile: the largest drop held, not a single frame's glitch (a leg
            # swinging past a hip can throw one frame's landmarks far off).
            held = usable[min(len(usable) - 1, int(0.9 * len(usable)))]
            summary.values[self.field] = [(1, round_to_step(held))]
            summary.repetitions = [
                {"held_tilt": round(held, 1), "mean_tilt": round(statistics.fmean(usable), 1)}
            ]
        return summary


ANALYSES: dict[str, type[Analysis]] = {
    analysis.protocol: analysis
    for analysis in (LungeAnalysis, StraightLegRaiseAnalysis, SingleLegStanceAnalysis)
}
