"""Synthetic people for the pose analysis: landmarks whose angles are known exactly, and a pose
model (``ScriptedLunge``) that plays them back, so that a measurement can run end to end, from
a WebRTC stream to the values accepted, with known results and without MediaPipe's cost.

Select the model with ``POSE_MODEL = "tests.assessments.synthetic_poses.ScriptedLunge"``
(``SCRIPTED_LUNGE``).
"""

import math
import random
from typing import Any

from assessments.pose.geometry import Point, Point3
from assessments.pose.model import PoseResult


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


def world(*, left_flexion: float = 8.0, right_flexion: float = 8.0, jitter: float = 0.0) -> list:
    """World landmarks (metres, hip-centred, y down) of someone facing the camera with each knee
    bent by exactly the given flexion, the thigh forward by 60 % of it; ``jitter`` adds that
    much random error (metres, standard deviation) to every coordinate."""
    points = [Point3(0.0, 0.0, 0.0)] * 33
    for indexes, x, flexion in (
        ((23, 25, 27), 0.1, left_flexion),
        ((24, 26, 28), -0.1, right_flexion),
    ):
        leg = world_leg(flexion_deg=flexion, thigh_forward_deg=0.6 * flexion, hip_x=x)
        for index, p in zip(indexes, leg, strict=True):
            points[index] = Point3(*(value + random.gauss(0, jitter) for value in (p.x, p.y, p.z)))
    return points


def world_leg(
    *, flexion_deg: float, thigh_forward_deg: float, turn_deg: float = 0.0, hip_x: float = 0.1
) -> tuple[Point3, Point3, Point3]:
    """Hip, knee and ankle in metres (hip-centred, y down) with an exact 3D knee flexion.

    The hip is ``hip_x`` to the side of the centre. The thigh leaves it ``thigh_forward_deg``
    forward of vertical (towards -z, the camera) and the shank turns back by ``flexion_deg`` in
    the same plane; the whole leg is then turned by ``turn_deg`` about the vertical axis, as a
    person standing at an angle to the camera.
    """
    a, b, t = (
        math.radians(v) for v in (thigh_forward_deg, thigh_forward_deg - flexion_deg, turn_deg)
    )

    def turned(x: float, y: float, z: float) -> tuple[float, float, float]:
        return x * math.cos(t) + z * math.sin(t), y, -x * math.sin(t) + z * math.cos(t)

    hip = (hip_x, 0.0, 0.0)
    knee = (hip[0], hip[1] + 0.42 * math.cos(a), hip[2] - 0.42 * math.sin(a))
    ankle = (knee[0], knee[1] + 0.4 * math.cos(b), knee[2] - 0.4 * math.sin(b))
    return tuple(Point3(*turned(*p)) for p in (hip, knee, ankle))  # type: ignore[return-value]


# The script: standing, then three lunges of the left leg (8 frames down, 6 held at 90° of
# knee flexion, 8 up, 8 standing), the knee caving in by 12°, 14° and 16° throughout each, the
# pelvis going down by 12 % of the frame's height at the bottom.
LUNGE_VALGUS = (12.0, 14.0, 16.0)
LUNGE_FLEXION = 90.0


def _lunge_script() -> list[PoseResult]:
    still = PoseResult(landmarks=standing(), world_landmarks=world())
    script = [still] * 12
    for valgus in LUNGE_VALGUS:
        flexions = (
            [8 + (LUNGE_FLEXION - 8) * step / 8 for step in range(1, 9)]
            + [LUNGE_FLEXION] * 6
            + [8 + (LUNGE_FLEXION - 8) * step / 8 for step in range(7, -1, -1)]
        )
        script += [
            PoseResult(
                landmarks=standing(
                    depth=0.12 * (flexion - 8) / (LUNGE_FLEXION - 8), valgus_deg=valgus
                ),
                world_landmarks=world(left_flexion=flexion),
            )
            for flexion in flexions
        ]
        script += [still] * 8
    return script


class ScriptedLunge:
    """A PoseModel that finds, in whatever image it is given, the next pose of its script (and
    then someone standing still): deterministic, and as fast as a model can be."""

    name = "Scripted lunge (test model)"
    version = "3 lunges, valgus 12/14/16°"
    script = _lunge_script()

    def __init__(self) -> None:
        self.calls = 0
        self.closed = False

    def detect(self, rgb: Any) -> PoseResult:
        if rgb.ndim != 3 or rgb.shape[2] != 3 or max(rgb.shape[:2]) > 640:
            raise ValueError(f"expected a downscaled RGB image, got {rgb.shape}")
        pose = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        # The script is drawn in a square frame: squeeze it into this frame's width, so that
        # the analysis, which works in frame heights, sees the same angles.
        aspect = rgb.shape[1] / rgb.shape[0]
        return PoseResult(
            landmarks=[
                Point(0.5 + (p.x - 0.5) / aspect, p.y, p.visibility) for p in pose.landmarks
            ],
            world_landmarks=pose.world_landmarks,
        )

    def close(self) -> None:
        self.closed = True


# The POSE_MODEL setting that selects it.
SCRIPTED_LUNGE = f"{ScriptedLunge.__module__}.{ScriptedLunge.__qualname__}"
