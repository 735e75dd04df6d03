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

MediaPipe is an optional install (the ``vision`` extra). ``vision_unavailable()`` says why
camera measurement cannot be offered, in words for the clinician: not installed (and how to
install it), switched off with POSE_ANALYSIS=off, or a configured model that cannot be loaded.
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
SWITCHED_OFF = (
    "Camera measurement is switched off on this server (POSE_ANALYSIS=off): enter values by hand."
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


def _is_mediapipe() -> bool:
    return settings.POSE_MODEL.endswith("MediaPipePose")


@dataclass(frozen=True)
class VisionUnavailable:
    """Why camera measurement cannot be offered. Switched off on purpose, the panel just says
    so; otherwise its Measure button stays, unusable, and says how to make it work."""

    message: str
    switched_off: bool = False


def vision_unavailable() -> VisionUnavailable | None:
    """Why this server cannot measure from video; None when it can."""
    if not settings.POSE_ANALYSIS_ENABLED:
        return VisionUnavailable(SWITCHED_OFF, switched_off=True)
    if _is_mediapipe():
        return None if _importable("mediapipe") else VisionUnavailable(ENABLE_HINT)
    if not _importable(settings.POSE_MODEL.rpartition(".")[0]):
        return VisionUnavailable(
            f"Camera measurement is not available: the pose model {settings.POSE_MODEL} "
            "cannot be loaded on this server. Enter values by hand."
        )
    return None


def pose_model() -> PoseModel:
    """A new model of the configured class (``POSE_MODEL``, a dotted path)."""
    module, _, name = settings.POSE_MODEL.rpartition(".")
    return getattr(importlib.import_module(module), name)()


def model_description() -> dict[str, str]:
    """Name and version of the configured model without loading it."""
    if _is_mediapipe():
        import mediapipe

        return {
            "model": MediaPipePose.name,
            "version": f"{mediapipe.__version__} (model_complexity=1)",
        }
    module, _, name = settings.POSE_MODEL.rpartition(".")
    model = getattr(importlib.import_module(module), name)
    return {
        "model": str(getattr(model, "name", settings.POSE_MODEL)),
        "version": str(getattr(model, "version", "")),
    }
