"""The pose model behind a small interface, so that another model can replace MediaPipe.

A model takes an RGB image (numpy array, height × width × 3, uint8) and returns the person's
landmarks in MediaPipe's 33-point layout with normalized coordinates (x right, y down, 0..1)
and a visibility each, or None when nobody is found. A model that can also gives the same
landmarks in 3D ("world" landmarks: metres, centred between the hips); the lunge finds its
repetitions from the knee flexion they give, so without them a lunge shows live angles but
records nothing. Models are stateful (they track a person from frame to frame) and not
thread-safe: use one per video stream, from one thread. ``name`` and ``version`` are stored
with every measurement; a class that has them as class attributes is described without being
loaded.

MediaPipe is an optional install (the ``vision`` extra). ``vision_available()`` says whether
camera measurement can be offered; without it the panel explains how to enable it.
"""

import functools
import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings

from assessments.pose.geometry import Point, Point3

ENABLE_HINT = (
    "Camera measurement is not installed on this server. To enable it, install the vision "
    "extra (scripts/install vision, or pip install '.[vision]') and restart the server; "
    "enter values by hand meanwhile."
)


@dataclass(frozen=True)
class PoseResult:
    landmarks: Sequence[Point]
    world_landmarks: Sequence[Point3] | None = None


class PoseModel(Protocol):
    name: str
    version: str

    def detect(self, rgb: Any) -> PoseResult | None: ...

    def close(self) -> None: ...


class MediaPipePose:
    """MediaPipe Pose (BlazePose), model_complexity=1: the model bundled in mediapipe 0.10.21,
    so nothing is downloaded at run time."""

    name = "MediaPipe Pose"

    def __init__(self) -> None:
        import mediapipe

        self.version = f"{mediapipe.__version__} (model_complexity=1)"
        self._pose = mediapipe.solutions.pose.Pose(
            static_image_mode=False,
            model_complexity=1,
            smooth_landmarks=True,
            enable_segmentation=False,
            min_detection_confidence=0.5,
            min_tracking_confidence=0.5,
        )

    def detect(self, rgb: Any) -> PoseResult | None:
        found = self._pose.process(rgb)
        if found.pose_landmarks is None:
            return None
        world = found.pose_world_landmarks
        return PoseResult(
            landmarks=[Point.of(landmark) for landmark in found.pose_landmarks.landmark],
            world_landmarks=None if world is None else [Point3.of(p) for p in world.landmark],
        )

    def close(self) -> None:
        self._pose.close()


@functools.cache
def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def vision_available() -> bool:
    """Whether this server can measure from video (POSE_ANALYSIS=off turns it off)."""
    if not settings.POSE_ANALYSIS_ENABLED:
        return False
    module = settings.POSE_MODEL.rsplit(".", 1)[0]
    requirement = "mediapipe" if settings.POSE_MODEL.endswith("MediaPipePose") else module
    return _importable(requirement)


def pose_model() -> PoseModel:
    """A new model of the configured class (``POSE_MODEL``, a dotted path)."""
    module, _, name = settings.POSE_MODEL.rpartition(".")
    return getattr(importlib.import_module(module), name)()


def model_description() -> dict[str, str]:
    """Name and version of the configured model without loading it."""
    if settings.POSE_MODEL.endswith("MediaPipePose") and _importable("mediapipe"):
        import mediapipe

        return {
            "model": MediaPipePose.name,
            "version": f"{mediapipe.__version__} (model_complexity=1)",
        }
    return {"model": settings.POSE_MODEL, "version": ""}
