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

The model's library is imported once per process, in a thread of its own
(``pose_library_import``), which a process that analyses video starts as it starts.
"""

import importlib
import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings

from assessments.pose.body import relabelled
from assessments.pose.geometry import Point, Point3

logger = logging.getLogger(__name__)

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


def _mediapipe_version(version: str) -> str:
    settings_text = "model_complexity=1, unsmoothed"
    if settings.POSE_FLIP_TEST:
        settings_text += ", flip test"
    return f"{version} ({settings_text})"


class MediaPipePose:
    """MediaPipe Pose (BlazePose), model_complexity=1: the model bundled in mediapipe 0.10.21,
    so nothing is downloaded at run time.

    Run without its temporal smoothing. The solution API stamps every frame 1/30 s after the
    last whatever the real rate (the server analyses 10-15 frames a second), so its filter is
    tuned for the wrong rate; worse, it smooths across the model's swaps of left and right,
    blending one leg into the other for a few frames. The analysis smooths over seconds
    itself, after the sides are put right (see assessments.pose.body). Tracking the person
    from frame to frame (where to look next) stays on: it depends on no clock.

    With POSE_FLIP_TEST (the default) each frame is also given to a second instance mirrored,
    and the two answers are averaged (`flip_averaged`), the "flip test" of pose estimation.
    The network is not mirror-symmetric: on the frontal test clip it places a knee 3-5 pixels
    differently in a mirrored picture, which moves a frontal-plane angle by up to 8° for as
    long as the person holds the pose. Averaged, a left knee and a right knee are measured
    alike, at twice the model's cost (about 45 ms a frame instead of 22 on the benchmark
    machine, see docs/benchmarks.md); POSE_FLIP_TEST=off halves it.
    """

    name = "MediaPipe Pose"

    def __init__(self) -> None:
        import mediapipe

        self.version = _mediapipe_version(mediapipe.__version__)
        self._pose = self._instance()
        self._mirrored = self._instance() if settings.POSE_FLIP_TEST else None

    @staticmethod
    def _instance() -> Any:
        import mediapipe

        return mediapipe.solutions.pose.Pose(
            static_image_mode=False,
            model_complexity=1,
            smooth_landmarks=False,
            enable_segmentation=False,
            min_detection_confidence=0.5,
            min_tracking_confidence=0.5,
        )

    @staticmethod
    def _result(found: Any) -> PoseResult | None:
        if found.pose_landmarks is None:
            return None
        world = found.pose_world_landmarks
        return PoseResult(
            landmarks=[Point.of(landmark) for landmark in found.pose_landmarks.landmark],
            world_landmarks=None if world is None else [Point3.of(p) for p in world.landmark],
        )

    def detect(self, rgb: Any) -> PoseResult | None:
        found = self._result(self._pose.process(rgb))
        if self._mirrored is None:
            return found
        # A view of the array, copied into the contiguous buffer MediaPipe needs.
        mirrored = self._result(self._mirrored.process(rgb[:, ::-1].copy()))
        return flip_averaged(found, None if mirrored is None else unmirrored(mirrored))

    def close(self) -> None:
        self._pose.close()
        if self._mirrored is not None:
            self._mirrored.close()


def unmirrored(result: PoseResult) -> PoseResult:
    """What a model found in a mirrored picture, put back into the picture: x reflected, and
    each left/right label exchanged (the model names the person in the mirror, whose left is
    the real person's right)."""
    points = relabelled([Point(1 - p.x, p.y, p.visibility) for p in result.landmarks])
    world = result.world_landmarks
    if world is not None:
        world = relabelled([Point3(-p.x, p.y, p.z, p.visibility) for p in world])
    return PoseResult(landmarks=points, world_landmarks=world)


def flip_averaged(found: PoseResult | None, mirrored: PoseResult | None) -> PoseResult | None:
    """The mean of a frame's pose and its mirrored pose (`unmirrored`), landmark by landmark.

    The two may disagree about which way the person faces, and so name the sides the other
    way round: the mirrored pose's labels are matched to the first's by where the landmarks
    are before averaging. Then the 2D landmarks are averaged; the 3D ones only when the two
    agreed (a model that took a front view for a back view builds a different body in
    depth), the first pose's otherwise. Either alone when the other found nobody.
    """
    if found is None or mirrored is None:
        return found or mirrored
    points = mirrored.landmarks
    swapped = relabelled(points)
    if _apart(found.landmarks, swapped) < _apart(found.landmarks, points):
        return PoseResult(
            landmarks=_mean_points(found.landmarks, swapped),
            world_landmarks=found.world_landmarks,
        )
    world = found.world_landmarks
    if world is not None and mirrored.world_landmarks is not None:
        world = [
            Point3(
                (a.x + b.x) / 2, (a.y + b.y) / 2, (a.z + b.z) / 2, (a.visibility + b.visibility) / 2
            )
            for a, b in zip(world, mirrored.world_landmarks, strict=True)
        ]
    return PoseResult(landmarks=_mean_points(found.landmarks, points), world_landmarks=world)


def _apart(one: Sequence[Point], other: Sequence[Point]) -> float:
    return sum(math.dist((a.x, a.y), (b.x, b.y)) for a, b in zip(one, other, strict=True))


def _mean_points(one: Sequence[Point], other: Sequence[Point]) -> list[Point]:
    return [
        Point((a.x + b.x) / 2, (a.y + b.y) / 2, (a.visibility + b.visibility) / 2)
        for a, b in zip(one, other, strict=True)
    ]


class PoseModelUnavailable(RuntimeError):
    """The configured model's library could not be imported (the message says why)."""


def _is_mediapipe() -> bool:
    return settings.POSE_MODEL.endswith("MediaPipePose")


def _library_module() -> str:
    """The module to import for the configured model: mediapipe, or the model's own module."""
    return "mediapipe" if _is_mediapipe() else settings.POSE_MODEL.rpartition(".")[0]


class _LibraryImport:
    """The import of one pose library, in a thread that holds nothing else.

    Imported where it is first needed, the library made the first reading of a process wait
    for it (a second for mediapipe), and what it keeps from its own import kept its importer
    alive: mediapipe stores the error of an optional import (``sd_error``, its audio module)
    with a traceback whose frames reach up to whoever imported mediapipe, so the first
    measurement's session, peer and frame lived as long as the process. A failure is kept as
    text, never as the exception, whose traceback would keep these frames too.
    """

    def __init__(self, module: str) -> None:
        self.module = module
        self.failure: str | None = None
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"import {module}")
        self._thread.start()

    def _run(self) -> None:
        try:
            importlib.import_module(self.module)
        except Exception as error:  # a broken install fails in more ways than ImportError
            self.failure = f"{type(error).__name__}: {error}"
            not_installed = isinstance(error, ModuleNotFoundError) and error.name == self.module
            # Not installed is a choice the panel explains; anything else is a broken install.
            logger.log(
                logging.INFO if not_installed else logging.WARNING,
                "The pose library %s cannot be imported: %s",
                self.module,
                self.failure,
            )
        finally:
            self.done.set()


_imports: dict[str, _LibraryImport] = {}
_imports_lock = threading.Lock()


def _library_import() -> _LibraryImport:
    module = _library_module()
    with _imports_lock:
        if module not in _imports:
            _imports[module] = _LibraryImport(module)
        return _imports[module]


def pose_library_import() -> None:
    """Start importing the configured model's library (once per process; returns at once),
    so that the first measurement does not wait for it. Nothing when POSE_ANALYSIS is off."""
    if settings.POSE_ANALYSIS_ENABLED:
        _library_import()


def _library_failure() -> str | None:
    """Why the configured model's library cannot be imported, None once it is imported;
    waits for an import under way."""
    library = _library_import()
    library.done.wait()
    return library.failure


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
    if _library_failure() is None:
        return None
    if _is_mediapipe():
        return VisionUnavailable(ENABLE_HINT)
    return VisionUnavailable(
        f"Camera measurement is not available: the pose model {settings.POSE_MODEL} "
        "cannot be loaded on this server. Enter values by hand."
    )


def pose_model() -> PoseModel:
    """A new model of the configured class (``POSE_MODEL``, a dotted path), once its library
    is imported (see pose_library_import)."""
    failure = _library_failure()
    if failure is not None:
        raise PoseModelUnavailable(failure)
    module, _, name = settings.POSE_MODEL.rpartition(".")
    return getattr(importlib.import_module(module), name)()


def model_description() -> dict[str, str]:
    """Name and version of the configured model without loading it."""
    if _is_mediapipe():
        import mediapipe

        return {"model": MediaPipePose.name, "version": _mediapipe_version(mediapipe.__version__)}
    module, _, name = settings.POSE_MODEL.rpartition(".")
    model = getattr(importlib.import_module(module), name)
    return {
        "model": str(getattr(model, "name", settings.POSE_MODEL)),
        "version": str(getattr(model, "version", "")),
    }
