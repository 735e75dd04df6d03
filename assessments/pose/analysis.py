"""From landmarks, frame by frame, to the numbers of a guided test (PROTOCOLS.md sections 1, 3
and 5).

An ``Analysis`` is fed one frame's landmarks at a time and says, for that frame, whether it
could be used (and if not, why, with a plain hint for the client), the live value with its
confidence, and the points of a small skeleton. At the end it sums up: repetitions with their
values, the values to propose, the values withheld (and why), and how many frames were used and
left out, per reason.

A frame is used only when all of this holds, in this order (the first that fails names the
frame's reason, see ``LEFT_OUT_REASONS``):

1. Somebody is found, and the whole body, both feet too, is inside the picture.
2. Their left and right can be told from the body (see assessments.pose.body: the model's own
   labels swap now and then).
3. They stand as the test needs: square to the camera (at most ``SQUARE_MAX_TURN_DEG`` turned)
   for a front or back view, side-on (at least ``SIDE_MIN_TURN_DEG``) for a side view, and
   facing the right way.
4. The landmarks the value comes from are clearly seen (visibility ``MIN_VISIBILITY``).
5. What the test itself needs: for the single-leg stance, a level reference and the right leg
   to stand on.

The tests:

- Lunge / single-leg squat (front view): the frontal plane projection angle (FPPA) of the
  measured leg, positive = valgus. A repetition is the pelvis going down and coming back up,
  measured in the picture in percent of the client's torso length below their own standing
  height; the protocol reads the FPPA "at the lowest point of the movement", which is the
  deepest point of the pelvis. The measured knee must bend for it to count (its 3D flexion at
  least ``LUNGE_MIN_KNEE_BEND_DEG`` above how the client stands): sinking into the hips is not
  a lunge. Pelvis height is read straight off the picture, so it does not depend on the
  model's guess of depth, on its left and right, or on the frame rate.
- Straight leg raise (side view): the angle of the raised leg to the resting one; repetitions
  from that angle above the client's own lying baseline; the highest peak is the value.
- Single-leg stance (from behind, or from the front): the drop of the pelvis on the lifted
  side, relative to the line through the hips while the client stood still on both feet (the
  level reference), so a camera that is not level does not show up as a drop.

A value outside the protocol's own range for its field is never proposed: it is withheld, with
the reason, and the other trials are still proposed. Camera-measured values are 2D estimates
("measured from video"); the clinician accepts or overrides them.
"""

import math
import statistics
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from assessments.pose.body import (
    SIDE_MIN_TURN_DEG,
    SQUARE_MAX_TURN_DEG,
    Body,
    BodyTracker,
    View,
)
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
from assessments.pose.repetitions import (
    Repetition,
    baseline,
    detect_repetitions,
    median_smoothed,
    peak_per_repetition,
    values_at_bottom,
)
from assessments.protocols import PROTOCOLS

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
# The live value shown for a frame is the median of the frames of the last LIVE_SMOOTHING_S:
# the model runs without its own smoothing, and a single frame's joint is a few pixels off.
LIVE_SMOOTHING_S = 0.3
# Repetitions: a controlled lunge, squat or leg raise takes longer than this; a shorter bump is
# a jolt of the estimate. Smoothing, in seconds like everything about time here.
MIN_REPETITION_S = 0.4
REPETITION_SMOOTHING_S = 0.2
# Lunge repetitions, in percent of the torso's length below the client's standing pelvis
# height. A lunge takes the pelvis down by 40-60 % of the torso, a single-leg squat or a
# step-down 15-30 %; standing still reads within a few percent.
LUNGE_START_DEPTH = 8.0
LUNGE_END_DEPTH = 4.0
LUNGE_MIN_DEPTH = 12.0
# The measured knee bends at least this much more than it does standing (3D flexion), or the
# movement is not a lunge (bending forward, sinking into the hips).
LUNGE_MIN_KNEE_BEND_DEG = 25.0
# Straight leg raise: degrees above the client's own lying baseline.
SLR_START_DEG = 12.0
SLR_END_DEG = 6.0
SLR_MIN_PEAK_DEG = 20.0
# The level reference: the client stands still on both feet at least this long, the hips and
# ankles each within STILL (of the torso's length) of where they were.
LEVEL_REFERENCE_S = 0.3
LEVEL_REFERENCE_FRAMES = 3
STILL = 0.1
# Left and right hip closer than this (a fraction of the torso length) give no line to tilt.
MIN_HIP_SEPARATION = 0.15
# Samples kept per measurement: 10 minutes at the analysis rate. Older ones are dropped (and
# still counted), so a long stream uses the same memory as a short one.
MAX_SAMPLES = 10 * 60 * 15

HINT_NOBODY = "Nobody is in view: stand in front of the camera."
HINT_WHOLE_BODY = "Step back so that your whole body, including both feet, is in the picture."
HINT_FACE = "Turn your back to the camera, square on."
HINT_FACE_FRONT = "Turn to face the camera, square on."
HINT_TURN_ROUND_FRONT = "Turn round to face the camera."
HINT_TURN_ROUND_BACK = "Turn round: this test is filmed from behind."
HINT_SIDE = "Turn side-on to the camera."
HINT_SIDES = "Hold still for a moment, square to the camera."
HINT_UNCLEAR = (
    "The camera cannot see your legs clearly: add some light and move anything in front of them."
)
HINT_LEVEL = "Stand still on both feet for a moment."
HINT_GOOD = "Good: hold this position in the picture."

# Why frames were left out, in the clinician's words (the summary counts frames per reason).
LEFT_OUT_REASONS: dict[str, str] = {
    "nobody": "nobody in view",
    "out_of_frame": "body not wholly in the picture",
    "sides_uncertain": "left and right could not be told apart",
    "turned": "turned away from the view the test needs",
    "facing": "facing the wrong way",
    "low_confidence": "joints not clearly seen",
    "no_level_reference": "before the level reference (standing still on both feet)",
}


@dataclass(frozen=True)
class Framing:
    ok: bool
    hint: str


def in_picture(points: Sequence[Point]) -> bool:
    """Every landmark of the skeleton inside the picture (with a small margin).

    Only where the landmarks are counts here. A model places a landmark it cannot see where it
    guesses it to be: outside the picture when the body part is, inside (with low visibility)
    when it is only hidden or in shadow. The latter is a matter of confidence, not framing.
    """
    return all(
        EDGE <= points[index].x <= 1 - EDGE and EDGE <= points[index].y <= 1 - EDGE
        for index in WHOLE_BODY
    )


@dataclass(frozen=True)
class FrameReading:
    """What one frame gave: the live value (None when the frame was left out) and why not."""

    time: float
    framing: Framing
    value: float | None
    confidence: float | None
    skeleton: list[list[float]] | None
    # The key of LEFT_OUT_REASONS, "" for a used frame.
    left_out: str = ""
    # Whether the value lies inside the protocol's range for its field (only such are proposed).
    in_range: bool = True


@dataclass
class Summary:
    """The result of a measurement."""

    frames: int = 0
    frames_used: int = 0
    # Reason (a key of LEFT_OUT_REASONS) → frames left out for it.
    frames_left_out_by: Counter[str] = field(default_factory=Counter)
    # Frames whose model labels (left and right) were put right.
    sides_corrected: int = 0
    repetitions: list[dict[str, Any]] = field(default_factory=list)
    # Field key → list of (trial, value), rounded to the field's step, each inside the
    # protocol's range: what the clinician is offered.
    values: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    # Values measured but not offered: {"field", "trial", "value", "reason"}.
    withheld: list[dict[str, Any]] = field(default_factory=list)
    # The mean of the used frames' confidence (their least visible landmark), and of every
    # skeleton landmark's visibility over the frames with somebody in them.
    confidence: float | None = None
    visibility: float | None = None
    # The client's own reference: standing pelvis and knee flexion, lying leg angle, level.
    baseline: dict[str, float] = field(default_factory=dict)
    # Why nothing could be recorded, when the reason is not the person's movement.
    note: str = ""

    @property
    def frames_left_out(self) -> int:
        return sum(self.frames_left_out_by.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "frames_used": self.frames_used,
            "frames_left_out": self.frames_left_out,
            "frames_left_out_by": dict(sorted(self.frames_left_out_by.items())),
            "sides_corrected": self.sides_corrected,
            "repetitions": self.repetitions,
            "values": {key: [list(pair) for pair in pairs] for key, pairs in self.values.items()},
            "withheld": self.withheld,
            "confidence": self.confidence,
            "visibility": self.visibility,
            "baseline": self.baseline,
            "note": self.note,
        }


def round_to_step(value: float, step: float = 0.5) -> float:
    rounded = round(value / step) * step
    return int(rounded) if rounded == int(rounded) else rounded


def _rounded(value: float | None, places: int = 1) -> float | None:
    return None if value is None else round(value, places)


class LeftOut(Exception):
    """A frame the test cannot use; ``reason`` is a key of LEFT_OUT_REASONS."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Analysis:
    """One measurement of one test and side. Subclasses say what a frame's value is."""

    protocol = ""
    field = ""
    # The views the test can be measured in (the protocol's own first).
    views: tuple[View, ...] = (View.FRONT,)

    def __init__(self, *, side: str, aspect: float) -> None:
        if side not in ("left", "right"):
            raise ValueError("side must be left or right")
        self.side = side
        self.aspect = aspect
        definition = PROTOCOLS[self.protocol]
        self.view = View(definition.camera_view.value)
        measured = definition.field(self.field)
        self.value_range = (float(measured.minimum), float(measured.maximum))
        self.unit = measured.unit
        self.tracker = BodyTracker(expected=self.view, aspect=aspect)
        self.series: deque[tuple[float, float | None]] = deque(maxlen=MAX_SAMPLES)
        self.confidences: deque[float] = deque(maxlen=MAX_SAMPLES)
        self.visibilities: deque[float] = deque(maxlen=MAX_SAMPLES)
        self.summary = Summary()

    # --- Frames -------------------------------------------------------------------------------

    def feed(
        self,
        time: float,
        points: Sequence[Point] | None,
        world: Sequence[Point3] | None = None,
    ) -> FrameReading:
        """One frame: its landmarks, and the model's 3D world landmarks when it gives them."""
        self.summary.frames += 1
        skeleton = None
        value = score = None
        try:
            if not points:
                raise LeftOut("nobody")
            self.visibilities.append(statistics.fmean(points[i].visibility for i in SKELETON))
            if not in_picture(points):
                raise LeftOut("out_of_frame")
            body = self.tracker.feed(time, points, world)
            if body.points is not None:
                points = body.points
            if body.corrected:
                self.summary.sides_corrected += 1
            if body.left_out:
                raise LeftOut(body.left_out)
            self._check_view(body)
            value, score = self.measure(time, body)
            if score < MIN_VISIBILITY:
                raise LeftOut("low_confidence")
        except LeftOut as left_out:
            reason = left_out.reason
            value = None
        except DegeneratePoseError:
            reason, value = "sides_uncertain", None
        else:
            reason = ""
        if points:
            skeleton = [
                [round(points[i].x, 4), round(points[i].y, 4), round(points[i].visibility, 2)]
                for i in SKELETON
            ]
        if reason:
            self.summary.frames_left_out_by[reason] += 1
        else:
            self.summary.frames_used += 1
            self.confidences.append(score)
        self.series.append((time, value))
        self.after_frame(time, value, reason)
        live = self._live(time) if value is not None else None
        return FrameReading(
            time,
            Framing(not reason, self.hint(reason)),
            live,
            score,
            skeleton,
            left_out=reason,
            in_range=live is None or self.in_range(live),
        )

    def _check_view(self, body: Body) -> None:
        if self.view == View.SIDE:
            if body.turn_deg < SIDE_MIN_TURN_DEG:
                raise LeftOut("turned")
            return
        if body.turn_deg > SQUARE_MAX_TURN_DEG:
            raise LeftOut("turned")
        if body.view not in self.views:
            raise LeftOut("facing")

    def _live(self, time: float) -> float | None:
        """The frame's value as shown live: the median of the last LIVE_SMOOTHING_S."""
        recent = []
        for sample_time, value in reversed(self.series):
            if sample_time < time - LIVE_SMOOTHING_S:
                break
            if value is not None:
                recent.append(value)
        return statistics.median(recent) if recent else None

    def in_range(self, value: float) -> bool:
        low, high = self.value_range
        return low <= value <= high

    def hint(self, reason: str) -> str:
        """What the client is told for a frame left out for ``reason`` ("" when used)."""
        if not reason:
            return HINT_GOOD
        if reason == "turned":
            return {View.FRONT: HINT_FACE_FRONT, View.BACK: HINT_FACE, View.SIDE: HINT_SIDE}[
                self.view
            ]
        if reason == "facing":
            return HINT_TURN_ROUND_FRONT if self.view == View.FRONT else HINT_TURN_ROUND_BACK
        return {
            "nobody": HINT_NOBODY,
            "out_of_frame": HINT_WHOLE_BODY,
            "sides_uncertain": HINT_SIDES,
            "low_confidence": HINT_UNCLEAR,
        }.get(reason, HINT_GOOD)

    def measure(self, time: float, body: Body) -> tuple[float, float]:
        """The frame's value and its confidence (the lowest visibility it depends on); raises
        LeftOut for a frame the test cannot use."""
        raise NotImplementedError

    def after_frame(self, time: float, value: float | None, reason: str) -> None:
        """Anything a test keeps per frame besides its value (``reason``: why it was left out,
        "" when used)."""

    # --- The summary --------------------------------------------------------------------------

    def finish(self) -> Summary:
        if self.confidences:
            self.summary.confidence = round(statistics.fmean(self.confidences), 2)
        if self.visibilities:
            self.summary.visibility = round(statistics.fmean(self.visibilities), 2)
        return self.summary

    def propose(self, trials: list[tuple[int, float]]) -> None:
        """Offer each trial's value that lies in the protocol's range; withhold the rest, with
        the reason."""
        low, high = self.value_range
        unit = self.unit if self.unit in ("", "°") else f" {self.unit}"
        proposed = []
        for trial, value in trials:
            if self.in_range(value):
                proposed.append((trial, round_to_step(value)))
                continue
            self.summary.withheld.append(
                {
                    "field": self.field,
                    "trial": trial,
                    "value": round(value, 1),
                    "reason": (
                        f"{round(value, 1):g}{unit} is outside the test's range "
                        f"({low:g} to {high:g}{unit}): check the framing, or enter a value"
                    ),
                }
            )
        if proposed:
            self.summary.values[self.field] = proposed


class LungeAnalysis(Analysis):
    protocol = "lunge"
    field = "fppa_deg"
    views = (View.FRONT,)

    def __init__(self, *, side: str, aspect: float) -> None:
        super().__init__(side=side, aspect=aspect)
        # Per used frame: how low the pelvis is (its height in the picture, y down), the torso's
        # length (the scale), and the measured knee's 3D flexion where the model's 3D is trusted.
        self.pelvis: deque[tuple[float, float | None]] = deque(maxlen=MAX_SAMPLES)
        self.torso: deque[float] = deque(maxlen=MAX_SAMPLES)
        self.flexion: deque[tuple[float, float | None]] = deque(maxlen=MAX_SAMPLES)
        self._frame: tuple[float, float, float | None] | None = None
        self._world_seen = False

    def measure(self, time: float, body: Body) -> tuple[float, float]:
        points = body.points
        leg = landmarks_for(self.side)
        hip, knee, ankle = points[leg.hip], points[leg.knee], points[leg.ankle]
        other_hip = points[leg.other_hip]
        value = fppa_deg(hip, knee, ankle, other_hip=other_hip, aspect=self.aspect)
        flexion = None
        if body.world:
            self._world_seen = True
            world = body.world
            try:
                flexion = knee_flexion_3d_deg(world[leg.hip], world[leg.knee], world[leg.ankle])
            except DegeneratePoseError:
                flexion = None
        pelvis = (points[LEFT_HIP].y + points[RIGHT_HIP].y) / 2
        shoulders = (points[LEFT_SHOULDER].y + points[RIGHT_SHOULDER].y) / 2
        self._frame = (pelvis, pelvis - shoulders, flexion)
        return value, confidence(hip, knee, ankle, other_hip)

    def after_frame(self, time: float, value: float | None, reason: str) -> None:
        # What a frame left out measured is left out with it.
        used = value is not None and self._frame is not None
        pelvis, torso, flexion = self._frame if used else (None, None, None)
        self.pelvis.append((time, pelvis))
        self.flexion.append((time, flexion))
        if torso is not None and torso > 0:
            self.torso.append(torso)
        self._frame = None

    def depth_series(self) -> list[tuple[float, float | None]]:
        """How low the pelvis is in each frame, in percent of the torso's length below where it
        stands (None for frames not used)."""
        standing = baseline(self.pelvis)
        if standing is None or not self.torso:
            return []
        scale = statistics.median(self.torso)
        return [
            (time, None if height is None else 100 * (height - standing) / scale)
            for time, height in self.pelvis
        ]

    def finish(self) -> Summary:
        summary = super().finish()
        series = list(self.series)
        depth = self.depth_series()
        flexion = list(self.flexion)
        standing_flexion = baseline(flexion)
        if standing_flexion is not None:
            summary.baseline["knee_flexion_deg"] = round(standing_flexion, 1)
        candidates = detect_repetitions(
            depth,
            start=LUNGE_START_DEPTH,
            end=LUNGE_END_DEPTH,
            min_peak=LUNGE_MIN_DEPTH,
            smoothing_s=REPETITION_SMOOTHING_S,
            min_duration_s=MIN_REPETITION_S,
        )
        reps: list[Repetition] = []
        bends: list[float] = []
        smoothed_flexion = smoothed_series(flexion)
        for rep in candidates:
            # Confirmed on the smoothed flexion (one frame's 3D guess is no bend); reported as
            # the deepest flexion measured.
            bend = peak_per_repetition(smoothed_flexion, [rep])[0]
            if (
                bend is not None
                and standing_flexion is not None
                and bend >= standing_flexion + LUNGE_MIN_KNEE_BEND_DEG
            ):
                reps.append(rep)
                bends.append(peak_per_repetition(flexion, [rep])[0])
        at_bottom = values_at_bottom(series, reps)
        peaks = peak_per_repetition(series, reps)
        summary.repetitions = [
            {
                "start": round(rep.start, 2),
                "bottom": round(rep.bottom, 2),
                "end": round(rep.end, 2),
                "depth_percent": round(rep.peak, 1),
                "knee_flexion_deg": round(bend, 1),
                "fppa_at_bottom": _rounded(bottom),
                "fppa_peak": _rounded(peak),
            }
            for rep, bend, bottom, peak in zip(reps, bends, at_bottom, peaks, strict=True)
        ]
        trials = [
            (trial, value)
            for trial, value in enumerate((v for v in at_bottom if v is not None), start=1)
            if trial <= 3
        ]
        self.propose(trials)
        if not reps and summary.frames_used and not self._world_seen:
            summary.note = (
                "No repetition could be found: this pose model gives no 3D landmarks to measure "
                "the knee's flexion from. Type the values instead."
            )
        return summary


def smoothed_series(series: list[tuple[float, float | None]]) -> list[tuple[float, float | None]]:
    """The usable values of a series, each replaced by the median of the values within
    REPETITION_SMOOTHING_S around it (a single frame's 3D guess is no peak)."""
    usable = [(time, value) for time, value in series if value is not None]
    medians = median_smoothed(usable, REPETITION_SMOOTHING_S)
    return [(time, value) for (time, _), value in zip(usable, medians, strict=True)]


class StraightLegRaiseAnalysis(Analysis):
    protocol = "aslr"
    field = "slr_angle_deg"
    views = (View.SIDE,)

    def measure(self, time: float, body: Body) -> tuple[float, float]:
        points = body.points
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
        lying = baseline(series)
        reps = []
        if lying is not None:
            summary.baseline["slr_angle_deg"] = round(lying, 1)
            reps = detect_repetitions(
                series,
                start=lying + SLR_START_DEG,
                end=lying + SLR_END_DEG,
                min_peak=lying + SLR_MIN_PEAK_DEG,
                smoothing_s=REPETITION_SMOOTHING_S,
                min_duration_s=MIN_REPETITION_S,
            )
        peaks = peak_per_repetition(series, reps)
        summary.repetitions = [
            {"start": round(rep.start, 2), "end": round(rep.end, 2), "peak": _rounded(peak)}
            for rep, peak in zip(reps, peaks, strict=True)
        ]
        usable = [peak for peak in peaks if peak is not None]
        if usable:
            self.propose([(1, max(usable))])
        return summary


class SingleLegStanceAnalysis(Analysis):
    """Standing on ``side``, the other foot lifted. The value is the tilt of the line between
    the hips, positive when the lifted side is lower, less its tilt while the client stood still
    on both feet at the start (the level reference): the drop, whatever the camera's roll.

    The reference is the median tilt over the first LEVEL_REFERENCE_S in which the client holds
    still (hips and ankles within STILL of where they were); until then frames are left out and
    the client is asked to stand still on both feet. It is kept in the summary, so the
    clinician can see what the drop is measured from.
    """

    protocol = "single_leg_stance"
    field = "pelvic_tilt_deg"
    # Filmed from behind, as the protocol asks; from the front the pelvis drops just the same.
    views = (View.BACK, View.FRONT)

    def __init__(self, *, side: str, aspect: float) -> None:
        super().__init__(side=side, aspect=aspect)
        # Recent frames while waiting for the reference: (time, tilt, [pelvis, ankles]).
        self._still: deque[tuple[float, float, list[tuple[float, float]]]] = deque()
        self.reference: float | None = None

    def hint(self, reason: str) -> str:
        if reason == "no_level_reference":
            return HINT_LEVEL
        if not reason and self.reference is not None:
            lifted = other_side(self.side)
            return f"Stand on your {self.side} leg, your {lifted} foot off the floor, and hold."
        return super().hint(reason)

    def measure(self, time: float, body: Body) -> tuple[float, float]:
        points = body.points
        stance, lifted = landmarks_for(self.side), landmarks_for(other_side(self.side))
        stance_hip, lifted_hip = points[stance.hip], points[lifted.hip]
        torso = _torso_length(points, self.aspect)
        if abs(stance_hip.x - lifted_hip.x) * self.aspect < MIN_HIP_SEPARATION * torso:
            raise LeftOut("turned")
        tilt = pelvic_drop(
            stance_hip=stance_hip, lifted_hip=lifted_hip, aspect=self.aspect
        ).tilt_deg
        score = confidence(stance_hip, lifted_hip)
        if self.reference is None:
            self._wait_for_level(time, tilt, points, torso)
            raise LeftOut("no_level_reference")
        return tilt - self.reference, score

    def _wait_for_level(self, time: float, tilt: float, points: list[Point], torso: float) -> None:
        """Take the reference once the client has held still for LEVEL_REFERENCE_S."""
        spots = [
            (
                (points[LEFT_HIP].x + points[RIGHT_HIP].x) / 2 * self.aspect,
                (points[LEFT_HIP].y + points[RIGHT_HIP].y) / 2,
            ),
            (points[LEFT_ANKLE].x * self.aspect, points[LEFT_ANKLE].y),
            (points[RIGHT_ANKLE].x * self.aspect, points[RIGHT_ANKLE].y),
        ]
        self._still.append((time, tilt, spots))
        # Only the last LEVEL_REFERENCE_S, and only as long as nobody moved.
        while self._still and self._still[0][0] < time - LEVEL_REFERENCE_S:
            self._still.popleft()
        first = self._still[0][2]
        if any(
            math.dist(spot, start) > STILL * torso
            for _, _, recent in self._still
            for spot, start in zip(recent, first, strict=True)
        ):
            self._still.clear()
            self._still.append((time, tilt, spots))
            return
        if (
            len(self._still) >= LEVEL_REFERENCE_FRAMES
            and time - self._still[0][0] >= LEVEL_REFERENCE_S * 0.8
        ):
            self.reference = statistics.median(value for _, value, _ in self._still)
            self._still.clear()

    def finish(self) -> Summary:
        summary = super().finish()
        if self.reference is not None:
            summary.baseline["level_tilt_deg"] = round(self.reference, 1)
        usable = sorted(value for _, value in self.series if value is not None)
        if usable:
            # The 90th percentile: the largest drop held, not a single frame's glitch (a leg
            # swinging past a hip can throw one frame's landmarks far off).
            held = usable[min(len(usable) - 1, int(0.9 * len(usable)))]
            summary.repetitions = [
                {"held_tilt": round(held, 1), "mean_tilt": round(statistics.fmean(usable), 1)}
            ]
            self.propose([(1, held)])
        elif self.reference is None and summary.frames:
            summary.note = (
                "No level reference was taken: the client did not stand still on both feet "
                "first. Measure again, or type the value."
            )
        return summary


def _torso_length(points: Sequence[Point], aspect: float) -> float:
    """The mean of the two sides' shoulder-to-hip distances, in frame heights."""
    return statistics.fmean(
        math.dist((points[a].x * aspect, points[a].y), (points[b].x * aspect, points[b].y))
        for a, b in ((LEFT_SHOULDER, LEFT_HIP), (RIGHT_SHOULDER, RIGHT_HIP))
    )


ANALYSES: dict[str, type[Analysis]] = {
    analysis.protocol: analysis
    for analysis in (LungeAnalysis, StraightLegRaiseAnalysis, SingleLegStanceAnalysis)
}
