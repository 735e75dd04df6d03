"""The client's own left and right, and which way they face, frame after frame.

A pose model names each landmark left or right from what it believes it sees. MediaPipe
believes a person faces the camera most of the time, and now and then takes a front view for a
back view: it then swaps the labels of the whole body, for one frame or for many (on the frontal
clip in tests/media, in about a third of the frames). Taken at its word, the model turns a
client's right knee into their left for a while, and a pelvic tilt changes sign with it.

So the sides come from the body, not from the labels:

- **How far the client is turned** from square-on to the camera (0° facing it or with the back
  to it, 90° side-on) comes from the line through the shoulders and the line through the hips,
  in the model's 3D landmarks where it gives them (2D proportions otherwise). A swap of labels
  turns these lines end for end, which does not change the angle.
- **Front or back.** Two cues that do not depend on the labels: which of heel and toes is lower
  in the picture (the one nearer the camera: the toes when the client faces it), and what the
  model believes (its labels). Neither is right in every frame; their sum since the measurement
  started (or since the client was last side-on, when they may have turned round) decides, with
  the view the test asks for as a tie-breaker.
- **Left and right**, in a front or back view, are then a matter of where: facing the camera,
  the client's left is on the picture's right. Labels that say otherwise are swapped back.
  In a side view, where left and right overlap in the picture, each side is kept continuous
  from frame to frame instead.
- **Each leg goes with its hip**: in a front or back view a knee is on its own hip's side of
  the other knee (they cross only in the deepest valgus), and a leg's labels that went to the
  other leg are swapped back; knees too close together to tell are followed from the last
  frame, as everything is in a side view.

A frame whose sides cannot be told (the shoulders say one thing and the hips another, or the
torso is edge-on with nothing recent to follow) is left out, and says why. A frame whose labels
were put right keeps its 2D landmarks (where the joints are in the picture does not depend on
the model's belief) but not its 3D ones: the model builds those from what it believes, and a
body it takes to face away is a different body in depth (on the frontal clip a lifted knee's 3D
flexion drops from about 50° to about 10° as the labels swap).

Everything here works in frame heights ((x * aspect, y)), like geometry.py, and on frames as the
camera sends them: a mirrored picture shows a person whose left is where the original's right
was, and is measured as such.
"""

import math
import statistics
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from assessments.pose.geometry import (
    LEFT_ANKLE,
    LEFT_FOOT_INDEX,
    LEFT_HEEL,
    LEFT_HIP,
    LEFT_KNEE,
    LEFT_SHOULDER,
    RIGHT_ANKLE,
    RIGHT_FOOT_INDEX,
    RIGHT_HEEL,
    RIGHT_HIP,
    RIGHT_KNEE,
    RIGHT_SHOULDER,
    Point,
    Point3,
)


class View(StrEnum):
    FRONT = "front"
    BACK = "back"
    SIDE = "side"


# Every left/right pair of MediaPipe's 33 landmarks (face, arms, legs): a swap of labels
# exchanges all of them.
PAIRS = (
    (1, 4),
    (2, 5),
    (3, 6),
    (7, 8),
    (9, 10),
    (11, 12),
    (13, 14),
    (15, 16),
    (17, 18),
    (19, 20),
    (21, 22),
    (23, 24),
    (25, 26),
    (27, 28),
    (29, 30),
    (31, 32),
)
LEG_PAIRS = (
    (LEFT_KNEE, RIGHT_KNEE),
    (LEFT_ANKLE, RIGHT_ANKLE),
    (LEFT_HEEL, RIGHT_HEEL),
    (LEFT_FOOT_INDEX, RIGHT_FOOT_INDEX),
)
TORSO_PAIRS = ((LEFT_SHOULDER, RIGHT_SHOULDER), (LEFT_HIP, RIGHT_HIP))

# Turned further than this from square-on, a front or back view is refused: the frontal-plane
# angles and the pelvic tilt of a turned body are not the ones the protocol means.
SQUARE_MAX_TURN_DEG = 25.0
# A side view needs at least this much.
SIDE_MIN_TURN_DEG = 60.0
# The turn is the median over this long: a single frame's 3D guess jumps by 10-20°.
TURN_WINDOW_S = 0.5
# Square-on, the mean of the shoulders' and the hips' width is about this fraction of the
# torso's length (shoulders to hips) in MediaPipe's landmarks (0.50 on the frontal clip). Only
# for a model without 3D landmarks, and rough: build and perspective change it as much as a
# turn of 30° does.
SQUARE_ON_WIDTH_RATIO = 0.5
# Heel and toes closer in height than this (frame heights) say nothing about the view.
FOOT_CUE_MIN = 0.004
# The view the test asks for counts as this many frames' evidence: it decides only a tie.
VIEW_PRIOR = 1.5
# Left and right of the torso closer than this (a fraction of its length) cannot be told apart
# by where they are.
MIN_TORSO_SEPARATION = 0.15
# A leg is followed from the last frame whose sides were known, if it is this recent.
FOLLOW_MAX_GAP_S = 0.4
# A leg's labels are swapped back only when the swap fits the last frame this much better.
SWAP_MARGIN = 0.5
# Knees closer together than this (a fraction of the hips' width) cannot be told apart by
# where they are.
KNEES_APART = 0.25


def relabelled(points: Sequence, pairs: Sequence[tuple[int, int]] = PAIRS) -> list:
    """The landmarks with the labels of each pair exchanged (points or world points)."""
    swapped = list(points)
    for left, right in pairs:
        swapped[left], swapped[right] = points[right], points[left]
    return swapped


def _torso_vector_2d(points: Sequence[Point], aspect: float) -> tuple[float, float]:
    """From the labelled right side of the torso to its left side, shoulders and hips summed."""
    dx = sum((points[left].x - points[right].x) * aspect for left, right in TORSO_PAIRS)
    dy = sum(points[left].y - points[right].y for left, right in TORSO_PAIRS)
    return dx, dy


def _torso_length(points: Sequence[Point], aspect: float) -> float:
    shoulders = [(points[i].x * aspect, points[i].y) for i in (LEFT_SHOULDER, RIGHT_SHOULDER)]
    hips = [(points[i].x * aspect, points[i].y) for i in (LEFT_HIP, RIGHT_HIP)]
    top = ((shoulders[0][0] + shoulders[1][0]) / 2, (shoulders[0][1] + shoulders[1][1]) / 2)
    bottom = ((hips[0][0] + hips[1][0]) / 2, (hips[0][1] + hips[1][1]) / 2)
    return math.dist(top, bottom)


def turn_deg(points: Sequence[Point], world: Sequence[Point3] | None, *, aspect: float) -> float:
    """How far the torso is turned from square-on to the camera, in degrees: 0 facing the
    camera or with the back to it, 90 side-on. The same whichever way the labels are."""
    if world:
        dx = sum(world[left].x - world[right].x for left, right in TORSO_PAIRS)
        dz = sum(world[left].z - world[right].z for left, right in TORSO_PAIRS)
        if math.hypot(dx, dz) > 1e-6:
            return math.degrees(math.atan2(abs(dz), abs(dx)))
    # Without 3D: the torso's width against its length, which a turn narrows.
    length = _torso_length(points, aspect)
    if length < 1e-6:
        return 90.0
    width = math.hypot(*_torso_vector_2d(points, aspect)) / 2
    return math.degrees(math.acos(min(1.0, width / length / SQUARE_ON_WIDTH_RATIO)))


def _foot_cue(points: Sequence[Point]) -> int:
    """+1 when the toes are lower in the picture than the heels (nearer the camera: a front
    view), -1 when the heels are (a back view), 0 when it cannot be told. Labels do not
    matter: each foot's heel and toes are compared with each other."""
    difference = statistics.fmean(
        points[toe].y - points[heel].y
        for heel, toe in ((LEFT_HEEL, LEFT_FOOT_INDEX), (RIGHT_HEEL, RIGHT_FOOT_INDEX))
    )
    if abs(difference) < FOOT_CUE_MIN:
        return 0
    return 1 if difference > 0 else -1


def _model_cue(points: Sequence[Point]) -> int:
    """+1 when the model's labels put the left side on the picture's right (it believes the
    person faces the camera), -1 otherwise."""
    dx, _ = _torso_vector_2d(points, 1.0)
    return 1 if dx > 0 else -1


@dataclass(frozen=True)
class Body:
    """One frame's landmarks under the client's own sides, or why the frame was left out."""

    points: list[Point] | None
    # None when the model gives none, or when its labels were put right (see above).
    world: list[Point3] | None
    view: View | None
    turn_deg: float | None
    # The model's labels were swapped back (whole body, or the legs only).
    corrected: bool = False
    left_out: str = ""


class BodyTracker:
    """Follows one client through a measurement (one per stream, fed in time order)."""

    def __init__(self, *, expected: View, aspect: float) -> None:
        self.expected = expected
        self.aspect = aspect
        self._turns: deque[tuple[float, float]] = deque()
        self._evidence = self._prior()
        self._last: tuple[float, list[Point]] | None = None
        self.corrections = 0

    def _prior(self) -> float:
        if self.expected == View.FRONT:
            return VIEW_PRIOR
        if self.expected == View.BACK:
            return -VIEW_PRIOR
        return 0.0

    def _turn(self, time: float, turn: float) -> float:
        self._turns.append((time, turn))
        while self._turns and self._turns[0][0] < time - TURN_WINDOW_S:
            self._turns.popleft()
        return statistics.median(value for _, value in self._turns)

    def feed(self, time: float, points: Sequence[Point], world: Sequence[Point3] | None) -> Body:
        points, world = list(points), list(world) if world else None
        turn = self._turn(time, turn_deg(points, world, aspect=self.aspect))
        if turn >= SIDE_MIN_TURN_DEG:
            # Side-on the client may be turning round: what was seen before says nothing
            # about which way they will face.
            self._evidence = self._prior()
            view = View.SIDE
            swap = self._follow(time, points, PAIRS)
        else:
            self._evidence += _foot_cue(points) + _model_cue(points)
            view = View.FRONT if self._evidence > 0 else View.BACK
            swap = self._by_place(points, facing=view == View.FRONT)
            if swap is None:
                return Body(None, None, view, turn, left_out="sides_uncertain")
        if swap:
            points = relabelled(points)
        # The legs on their own: a leg whose labels went to the other leg.
        if view == View.SIDE:
            legs = self._follow(time, points, LEG_PAIRS)
        else:
            legs = self._legs_by_place(points)
            if legs is None:
                legs = self._follow(time, points, LEG_PAIRS)
        if legs:
            points = relabelled(points, LEG_PAIRS)
        corrected = swap or legs
        if corrected:
            self.corrections += 1
        # A frame too turned to be measured is no reference for the next one's legs.
        if view == View.SIDE or turn <= SQUARE_MAX_TURN_DEG:
            self._last = (time, points)
        return Body(points, None if corrected else world, view, turn, corrected=corrected)

    def _by_place(self, points: list[Point], *, facing: bool) -> bool | None:
        """Whether the labels must be swapped for the client's left to be where it is in a
        front (``facing``) or back view; None when the torso does not say."""
        length = _torso_length(points, self.aspect)
        shoulders = (points[LEFT_SHOULDER].x - points[RIGHT_SHOULDER].x) * self.aspect
        hips = (points[LEFT_HIP].x - points[RIGHT_HIP].x) * self.aspect
        if length < 1e-6 or abs(shoulders + hips) < 2 * MIN_TORSO_SEPARATION * length:
            return None
        if shoulders * hips < 0 and min(abs(shoulders), abs(hips)) > MIN_TORSO_SEPARATION * length:
            # Shoulders one way round and hips the other: no body twists that far.
            return None
        left_on_the_right = shoulders + hips > 0
        return left_on_the_right != facing

    def _legs_by_place(self, points: list[Point]) -> bool | None:
        """In a front or back view (the torso's labels already right), whether the legs'
        labels must be swapped for each knee to be on its own hip's side; None when the knees
        are too close together to say (then the legs are followed from the last frame).

        Knees cross only in the deepest valgus, and a model's swap of the legs puts each knee
        on the other hip's side: the knees' order is the anchor, not the last frame alone, so
        that one bad frame cannot carry swapped legs along for the rest of a measurement."""
        hips = (points[LEFT_HIP].x - points[RIGHT_HIP].x) * self.aspect
        knees = (points[LEFT_KNEE].x - points[RIGHT_KNEE].x) * self.aspect
        if abs(knees) < KNEES_APART * abs(hips):
            return None
        return (knees > 0) != (hips > 0)

    def _follow(self, time: float, points: list[Point], pairs: Sequence[tuple[int, int]]) -> bool:
        """Whether swapping these pairs' labels fits the last frame clearly better."""
        if self._last is None or time - self._last[0] > FOLLOW_MAX_GAP_S:
            return False
        last = self._last[1]

        def distance(a: Point, b: Point) -> float:
            return math.hypot((a.x - b.x) * self.aspect, a.y - b.y)

        kept = sum(
            distance(points[left], last[left]) + distance(points[right], last[right])
            for left, right in pairs
        )
        swapped = sum(
            distance(points[right], last[left]) + distance(points[left], last[right])
            for left, right in pairs
        )
        return swapped < SWAP_MARGIN * kept
