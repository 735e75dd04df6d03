"""Joint angles from 2D pose landmarks (MediaPipe Pose), as shown live to the clinician.

Coordinates. MediaPipe gives x and y normalized to the frame's width and height, x to the right and
y down. Unless the frame is square the two axes have different units, and an angle computed from
them directly is wrong (a 10° knee angle in a 16:9 frame reads as about 5.6°). Every function here
that measures an angle or a ratio therefore takes ``aspect`` = frame width / frame height and
works in units of the frame height: (x * aspect, y). Pixel coordinates work as well: pass them
with ``aspect=1.0``. Nothing depends on where the origin is or on y pointing down, except where a
docstring says so (only `pelvic_drop`, which needs to know what "lower" means).

Sides. "left" and "right" are the person's anatomical sides, as in MediaPipe's landmark names.
No function assumes the person faces the camera: the medial side of a leg is found from the
other hip, so front views, back views and mirrored (selfie) frames give the same numbers.

3D. Pose models such as MediaPipe also estimate "world" landmarks: metres, centred between the
hips. Their depth is a guess from one camera, yet the knee's flexion computed from them
(`knee_flexion_3d_deg`) hardly depends on where the camera stands, while a knee bent straight
towards a camera that faces the person looks almost straight in the image. Repetitions of a
lunge filmed from the front are therefore found from the 3D angle; the FPPA, a 2D measure by
definition, stays 2D.

Degenerate input. When the points that define a line coincide, or a coordinate is not finite,
the angle does not exist: the functions raise `DegeneratePoseError` (a ValueError) rather than
return a number that would look like a measurement. A video pipeline catches it and leaves the
frame out, as it does for frames with low `confidence`.
"""

import math
from dataclasses import dataclass
from typing import Literal, Protocol

Side = Literal["left", "right"]

# MediaPipe Pose landmark indices (33-landmark model).
LEFT_SHOULDER = 11
RIGHT_SHOULDER = 12
LEFT_HIP = 23
RIGHT_HIP = 24
LEFT_KNEE = 25
RIGHT_KNEE = 26
LEFT_ANKLE = 27
RIGHT_ANKLE = 28
LEFT_HEEL = 29
RIGHT_HEEL = 30
LEFT_FOOT_INDEX = 31
RIGHT_FOOT_INDEX = 32

# Below this visibility MediaPipe is mostly guessing where an occluded joint is; such frames are
# left out rather than shown as measurements.
MIN_VISIBILITY = 0.5

# Segments shorter than this (in frame heights) are treated as coincident points: far below a
# pixel, so only genuinely degenerate input is rejected.
_MIN_LENGTH = 1e-9
# sin(angle) below which the other hip counts as lying on the hip-ankle line.
_MIN_SINE = 1e-9


class DegeneratePoseError(ValueError):
    """The landmarks do not define the angle (coincident points, or a non-finite coordinate)."""


class _Landmark(Protocol):
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class Point:
    """One landmark: normalized (or pixel) image coordinates and MediaPipe's visibility, 0..1."""

    x: float
    y: float
    visibility: float = 1.0

    @classmethod
    def of(cls, landmark: _Landmark) -> "Point":
        """Copy a MediaPipe landmark (anything with x, y and optionally visibility)."""
        return cls(
            x=float(landmark.x),
            y=float(landmark.y),
            visibility=float(getattr(landmark, "visibility", 1.0)),
        )


@dataclass(frozen=True, slots=True)
class Point3:
    """One world landmark: metres from the middle of the hips (x right, y down, z away from the
    camera in MediaPipe's convention) and the visibility of the same landmark."""

    x: float
    y: float
    z: float
    visibility: float = 1.0

    @classmethod
    def of(cls, landmark: _Landmark) -> "Point3":
        """Copy a MediaPipe world landmark (anything with x, y, z and optionally visibility)."""
        return cls(
            x=float(landmark.x),
            y=float(landmark.y),
            z=float(getattr(landmark, "z", 0.0)),
            visibility=float(getattr(landmark, "visibility", 1.0)),
        )


@dataclass(frozen=True, slots=True)
class LegLandmarks:
    """MediaPipe indices of one leg, plus the opposite hip that tells medial from lateral."""

    hip: int
    knee: int
    ankle: int
    heel: int
    foot_index: int
    other_hip: int


_LEGS: dict[str, LegLandmarks] = {
    "left": LegLandmarks(
        hip=LEFT_HIP,
        knee=LEFT_KNEE,
        ankle=LEFT_ANKLE,
        heel=LEFT_HEEL,
        foot_index=LEFT_FOOT_INDEX,
        other_hip=RIGHT_HIP,
    ),
    "right": LegLandmarks(
        hip=RIGHT_HIP,
        knee=RIGHT_KNEE,
        ankle=RIGHT_ANKLE,
        heel=RIGHT_HEEL,
        foot_index=RIGHT_FOOT_INDEX,
        other_hip=LEFT_HIP,
    ),
}


def _check_side(side: str) -> None:
    if side not in _LEGS:
        raise ValueError(f"side must be 'left' or 'right', not {side!r}")


def landmarks_for(side: Side) -> LegLandmarks:
    """The landmark indices of the person's ``side`` leg."""
    _check_side(side)
    return _LEGS[side]


def other_side(side: Side) -> Side:
    """The opposite side: the lifted leg when ``side`` is the stance leg, say."""
    _check_side(side)
    return "right" if side == "left" else "left"


@dataclass(frozen=True, slots=True)
class PelvicDrop:
    """Tilt of the line between the hips during single-leg stance.

    ``tilt_deg`` is the angle of the hip line from the horizontal of the frame, positive when the
    hip of the lifted leg is lower than the stance hip (the Trendelenburg sign). ``drop_fraction``
    is the same drop as a fraction of the distance between the hip landmarks (= sin(tilt)):
    multiply by the client's hip-joint distance to estimate centimetres for PROTOCOLS.md §5.
    """

    tilt_deg: float
    drop_fraction: float


def _check_aspect(aspect: float) -> None:
    if not (math.isfinite(aspect) and aspect > 0):
        raise ValueError(f"aspect (frame width / height) must be a positive number, not {aspect}")


def _vector(start: Point, end: Point, aspect: float, what: str) -> tuple[float, float]:
    """The vector start → end in frame heights; rejects coincident points."""
    for point in (start, end):
        if not (math.isfinite(point.x) and math.isfinite(point.y)):
            raise DegeneratePoseError(f"{what}: a landmark has a non-finite coordinate")
    dx = (end.x - start.x) * aspect
    dy = end.y - start.y
    if math.hypot(dx, dy) < _MIN_LENGTH:
        raise DegeneratePoseError(f"{what}: the two landmarks coincide")
    return dx, dy


def _cross(a: tuple[float, float], b: tuple[float, float]) -> float:
    return a[0] * b[1] - a[1] * b[0]


def _dot(a: tuple[float, float], b: tuple[float, float]) -> float:
    return a[0] * b[0] + a[1] * b[1]


def _angle_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Unsigned angle between two vectors, degrees in [0, 180].

    atan2 of cross and dot stays accurate near 0° and 180°, where acos of a cosine does not.
    """
    return math.degrees(math.atan2(abs(_cross(a, b)), _dot(a, b)))


def knee_flexion_deg(hip: Point, knee: Point, ankle: Point, *, aspect: float = 1.0) -> float:
    """Knee flexion in degrees: 0 for a straight leg, 90 for a right angle, up to 180.

    It is 180° minus the hip-knee-ankle angle, i.e. the angle between the thigh (hip → knee) and
    the shank (knee → ankle). It is only a true flexion angle in a side view; in a front view
    the same number is the unsigned frontal plane projection angle (see `fppa_deg`).
    """
    _check_aspect(aspect)
    thigh = _vector(hip, knee, aspect, "thigh (hip → knee)")
    shank = _vector(knee, ankle, aspect, "shank (knee → ankle)")
    return _angle_between(thigh, shank)


def _vector_3d(start: Point3, end: Point3, what: str) -> tuple[float, float, float]:
    """The vector start → end in metres; rejects coincident or non-finite points."""
    coordinates = (start.x, start.y, start.z, end.x, end.y, end.z)
    if not all(math.isfinite(value) for value in coordinates):
        raise DegeneratePoseError(f"{what}: a landmark has a non-finite coordinate")
    vector = (end.x - start.x, end.y - start.y, end.z - start.z)
    if math.hypot(*vector) < _MIN_LENGTH:
        raise DegeneratePoseError(f"{what}: the two landmarks coincide")
    return vector


def knee_flexion_3d_deg(hip: Point3, knee: Point3, ankle: Point3) -> float:
    """Knee flexion from world landmarks, degrees in [0, 180]: 180° minus the 3D hip-knee-ankle
    angle, the angle between thigh and shank whichever way the person faces the camera."""
    thigh = _vector_3d(hip, knee, "thigh (hip → knee)")
    shank = _vector_3d(knee, ankle, "shank (knee → ankle)")
    cross = (
        thigh[1] * shank[2] - thigh[2] * shank[1],
        thigh[2] * shank[0] - thigh[0] * shank[2],
        thigh[0] * shank[1] - thigh[1] * shank[0],
    )
    dot = thigh[0] * shank[0] + thigh[1] * shank[1] + thigh[2] * shank[2]
    # atan2 stays accurate near 0° (a straight leg), where acos of a cosine does not.
    return math.degrees(math.atan2(math.hypot(*cross), dot))


def fppa_deg(
    hip: Point, knee: Point, ankle: Point, *, other_hip: Point, aspect: float = 1.0
) -> float:
    """Frontal plane projection angle of one leg in degrees (PROTOCOLS.md §3), in [-180, 180].

    Magnitude: 180° minus the hip-knee-ankle angle. Sign: positive (valgus) when the knee lies
    on the medial side of the hip-ankle line, negative (varus) when it lies laterally, 0 when it
    is on the line. The medial side is the side of the hip-ankle line that ``other_hip`` (the
    opposite leg's hip, towards the body's midline) lies on. Deciding it from the landmarks
    rather than from an assumed camera position gives the same value for a front view, a back
    view and a mirrored selfie frame.

    Raises DegeneratePoseError when points coincide or when the other hip lies on the
    hip-ankle line (a side view, say), where medial and lateral cannot be told apart.
    """
    _check_aspect(aspect)
    thigh = _vector(hip, knee, aspect, "thigh (hip → knee)")
    shank = _vector(knee, ankle, aspect, "shank (knee → ankle)")
    leg_line = _vector(hip, ankle, aspect, "hip-ankle line")
    to_other_hip = _vector(hip, other_hip, aspect, "line between the hips")

    midline_side = _cross(leg_line, to_other_hip)
    if abs(midline_side) < _MIN_SINE * math.hypot(*leg_line) * math.hypot(*to_other_hip):
        raise DegeneratePoseError(
            "the other hip lies on the hip-ankle line: cannot tell medial from lateral"
        )
    # The thigh turns into the shank away from the side the knee sits on: the knee is on the
    # midline side exactly when this turn has the opposite sign to midline_side.
    turn = math.degrees(math.atan2(_cross(thigh, shank), _dot(thigh, shank)))
    return -turn if midline_side > 0 else turn


def slr_angle_deg(
    *, hip: Point, ankle: Point, rest_hip: Point, rest_ankle: Point, aspect: float = 1.0
) -> float:
    """Straight leg raise angle in degrees from a side view (PROTOCOLS.md §1b), in [0, 180].

    The angle between the raised leg's line, ``hip`` → ``ankle``, and the resting leg's line,
    ``rest_hip`` → ``rest_ankle``, which lies flat on the surface. Both lines are taken from hip
    to ankle, so a leg still on the surface reads 0°. Each line uses its own hip because the
    two hip landmarks rarely coincide in a side view. The ankle rather than the knee ends the
    line: for a straight leg both lie on it, and the longer segment is less sensitive to
    landmark jitter (pass the knees instead when the feet are out of frame).
    """
    _check_aspect(aspect)
    raised = _vector(hip, ankle, aspect, "raised leg (hip → ankle)")
    resting = _vector(rest_hip, rest_ankle, aspect, "resting leg (hip → ankle)")
    return _angle_between(raised, resting)


def pelvic_drop(*, stance_hip: Point, lifted_hip: Point, aspect: float = 1.0) -> PelvicDrop:
    """Pelvic tilt during single-leg stance (PROTOCOLS.md §5), seen from behind or in front.

    "Lower" means larger y, as in image coordinates (y down); the frame is assumed level, so a
    tilted camera shows up as tilt. The horizontal direction of the hip line is ignored, so the
    result is the same from behind, from the front, and in a mirrored frame.
    """
    _check_aspect(aspect)
    dx, dy = _vector(stance_hip, lifted_hip, aspect, "line between the hips")
    return PelvicDrop(
        tilt_deg=math.degrees(math.atan2(dy, abs(dx))),
        drop_fraction=dy / math.hypot(dx, dy),
    )


def confidence(*points: Point) -> float:
    """The confidence of a value: the lowest visibility among the landmarks it comes from.

    A value is only as trustworthy as its least visible landmark: one occluded knee spoils
    the knee angle however clearly the hip and ankle are seen.
    """
    if not points:
        raise ValueError("confidence() needs at least one landmark")
    return min(point.visibility for point in points)


def is_usable(*points: Point, min_visibility: float = MIN_VISIBILITY) -> bool:
    """Whether a value computed from these landmarks is fit to show and keep for this frame."""
    return confidence(*points) >= min_visibility
