"""The media worker: the server's WebRTC peer for the client's camera, and the pose analysis.

It is a Channels consumer of the ``media`` channel. In production it runs in processes of its
own (``manage.py runworker media``, MEDIA_WORKER=separate), added as calls are measured; in the
quick start it runs inside the web process (MEDIA_WORKER=inline: the first measurement starts
it on the server's event loop). Either way the room's consumer sends the client's offer to the
shared ``media`` channel, and the worker that takes it answers with its own channel name, where
the rest of that measurement's messages go.

Per measurement: frames are pulled from the track as they come (newest wins, see
sessions.room.media_peer), and analysed at most MEDIA_ANALYSIS_FPS times a second in a thread of
the measurement's own (decode to RGB, downscale to at most 640 pixels on the long side, pose,
angles), so the event loop never waits on the model. Each reading goes to the clinician's
panel, with the time its frame arrived (so the delay to the panel can be measured), framing
hints to the client's page. Every MEDIA_HEARTBEAT_SECONDS a watch records that the worker is
alive and calls the roll of the clinician's open panels. The measurement ends when the
clinician stops it, no panel of theirs has answered for MEDIA_PANEL_GRACE_SECONDS, the client
leaves, no video comes for MEDIA_NO_VIDEO_SECONDS, after MEDIA_MAX_SECONDS, or the connection
fails; then the peer closes, the thread and the tasks end and the result is saved.
"""

import asyncio
import contextlib
import logging
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import av
from av.video.reformatter import Interpolation
from channels.consumer import AsyncConsumer
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone

from assessments.measurements import (
    ANALYSIS_LONG_SIDE,
    measurement_for_worker,
    measurement_heartbeat,
    measurement_record,
    measurement_running,
)
from assessments.models import MeasurementStatus
from assessments.pose.analysis import ANALYSES, LEFT_OUT_REASONS, Analysis, FrameReading
from assessments.pose.model import (
    PoseModel,
    PoseModelUnavailable,
    pose_library_import,
    pose_model,
)
from sessions.room.media_peer import ArrivedFrame, ReceiveOnlyPeer
from sessions.room.services import room_group

if TYPE_CHECKING:  # numpy comes with the vision extra, the only one that converts frames
    import numpy

logger = logging.getLogger(__name__)
# How long a measurement whose camera or connection went from the client's side waits for a
# stop note that says why (see MeasurementSession._end_unless_told).
CLIENT_SIDE_END_GRACE_SECONDS = 2.0

# Frames analysed a second (MEDIA_ANALYSIS_FPS, checked at start-up): enough to catch the
# bottom of a quick repetition, few enough that several measurements share a core.
ANALYSIS_FPS_RANGE = (10, 15)
# Landmark frames kept with a measurement: about 5 minutes at the analysis rate.
MAX_KEPT_FRAMES = 5 * 60 * 15


def downscaled_size(
    width: int, height: int, long_side: int = ANALYSIS_LONG_SIDE
) -> tuple[int, int]:
    scale = min(1.0, long_side / max(width, height))
    # Even sizes: the RGB conversion of YUV frames wants them.
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def analysis_image(frame: av.VideoFrame) -> "numpy.ndarray":
    """The frame as the model takes it: RGB, at most ANALYSIS_LONG_SIDE on its long side."""
    width, height = downscaled_size(frame.width, frame.height)
    # swscale's fast bilinear scaler: a third less time than its default (bilinear) on a
    # 1080×1920 frame, with the hips, knees and ankles found within 0.4% of the frame's height
    # of where the default puts them (median, the shared clips; docs/benchmarks.md).
    return frame.to_ndarray(
        format="rgb24", width=width, height=height, interpolation=Interpolation.FAST_BILINEAR
    )


class MeasurementSession:
    """One measurement: the peer, its analysis thread, and what it found."""

    def __init__(
        self,
        *,
        measurement_id: int,
        measurement_uuid: str,
        assessment_uuid: Any,
        appointment_uuid: Any,
        protocol: str,
        side: str,
        worker: "MediaWorkerConsumer",
    ) -> None:
        self.measurement_id = measurement_id
        self.uuid = measurement_uuid
        self.assessment_group = f"assessment.{assessment_uuid.hex}"
        self.room_group = room_group(appointment_uuid)
        self.protocol = protocol
        self.side = side
        self.worker = worker
        self.peer = ReceiveOnlyPeer()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"pose-{protocol}")
        self.model: PoseModel | None = None
        self.analysis: Analysis | None = None
        self.kept: list = []
        self.analysed = 0
        self.started = time.monotonic()
        self.framing: tuple[bool, str] | None = None
        self.task: asyncio.Task[None] | None = None
        self.watch: asyncio.Task[None] | None = None
        self.ender: asyncio.Future[None] | None = None
        self.ending = False
        # When a panel of the clinician last answered the roll call.
        self.panel_seen = time.monotonic()

    async def answer(self, sdp: str) -> str:
        self.peer.pc.on("connectionstatechange", self._on_connection_state)
        return await self.peer.answer(sdp)

    def _on_connection_state(self) -> None:
        # A dropped network shows as "closed" as often as "failed" (aiortc closes the peer
        # once its DTLS transport loses the ICE connection): one reason for both.
        if self.peer.connection_state in ("failed", "closed") and not self.ending:
            self.ender = asyncio.ensure_future(
                self._end_unless_told("the connection to the client's camera was lost")
            )

    async def _end_unless_told(self, reason: str) -> None:
        """End for a reason seen from the client's side (its camera or connection gone), unless
        the note saying why comes first. When the clinician stops or moves on, the client's page
        closes its camera at once, and that can reach this peer before the worker's stop note
        with the real reason (through the channel layer) does; the measurement would record
        "connection lost" for "the clinician moved to another test"."""
        await asyncio.sleep(CLIENT_SIDE_END_GRACE_SECONDS)
        if not self.ending:
            await self.end(reason)

    def run(self) -> None:
        self.task = asyncio.create_task(self._loop(), name=f"measurement {self.uuid}")
        self.watch = asyncio.create_task(self._watch(), name=f"measurement {self.uuid} watch")

    async def _watch(self) -> None:
        """Heartbeat, roll call and limits, whether or not frames come."""
        layer = self.worker.channel_layer
        try:
            while True:
                await asyncio.sleep(settings.MEDIA_HEARTBEAT_SECONDS)
                now = time.monotonic()
                if now - self.started > settings.MEDIA_MAX_SECONDS:
                    reason = "time limit reached"
                    break
                if now - self.panel_seen > settings.MEDIA_PANEL_GRACE_SECONDS:
                    reason = "the clinician's panel was closed"
                    break
                alive = await database_sync_to_async(measurement_heartbeat)(
                    measurement_id=self.measurement_id, now=timezone.now()
                )
                if not alive:
                    reason = "the measurement was ended elsewhere"
                    break
                await layer.group_send(
                    self.assessment_group,
                    {
                        "type": "assessment.roll_call",
                        "measurement": self.uuid,
                        "reply_to": self.worker.channel_name,
                    },
                )
        except asyncio.CancelledError:
            return
        except Exception:
            logger.exception("Measurement %s: the watch failed", self.uuid)
            reason = "the measurement's watch failed"
        await self.end(reason)

    def present(self) -> None:
        self.panel_seen = time.monotonic()

    async def _loop(self) -> None:
        interval = 1 / max(1, settings.MEDIA_ANALYSIS_FPS)
        loop = asyncio.get_running_loop()
        last = 0.0
        reason = "the video stopped"
        failed = False
        try:
            while True:
                if time.monotonic() - self.started > settings.MEDIA_MAX_SECONDS:
                    reason = "time limit reached"
                    break
                wait = last + interval - time.monotonic()
                if wait > 0:
                    # Frames arriving meanwhile replace each other: the newest is analysed.
                    await asyncio.sleep(wait)
                arrived = await self.peer.next_frame(timeout=settings.MEDIA_NO_VIDEO_SECONDS)
                if arrived is None:
                    if self.peer.track_ended.is_set():
                        # Cancelled by end() if the stop note comes meanwhile.
                        await self._end_unless_told("the client's camera stopped")
                        return
                    reason = "no video arrived"
                    break
                last = time.monotonic()
                reading = await loop.run_in_executor(self.executor, self._analyse, arrived)
                await self._publish(reading, arrived)
        except asyncio.CancelledError:
            return
        except PoseModelUnavailable as error:
            # Its message says why; a traceback would only point here. Logged as text: a log
            # record kept by a handler would keep the exception, and through its traceback
            # this session, alive.
            logger.warning("Measurement %s: no pose model: %s", self.uuid, str(error))
            reason = "the pose model could not be loaded on the media worker"
            failed = True
        except Exception:
            logger.exception("Measurement %s failed", self.uuid)
            reason = "the analysis failed"
        await self.end(reason, failed=failed)

    def _analyse(self, arrived: ArrivedFrame) -> FrameReading:
        """In the measurement's thread: decode, downscale, pose, angles."""
        rgb = analysis_image(arrived.frame)
        height, width = rgb.shape[:2]
        if self.model is None:
            self.model = pose_model()
            self.analysis = ANALYSES[self.protocol](side=self.side, aspect=width / height)
        found = self.model.detect(rgb)
        seconds = arrived.monotonic - self.started
        if found is None:
            reading = self.analysis.feed(seconds, None)
        else:
            reading = self.analysis.feed(seconds, found.landmarks, found.world_landmarks)
        self.analysed += 1
        if reading.skeleton is not None and len(self.kept) < MAX_KEPT_FRAMES:
            self.kept.append([round(seconds, 3), reading.skeleton])
        return reading

    async def _publish(self, reading: FrameReading, arrived: ArrivedFrame) -> None:
        layer = self.worker.channel_layer
        await layer.group_send(
            self.assessment_group,
            {
                "type": "assessment.measurement",
                "measurement": self.uuid,
                "protocol": self.protocol,
                "side": self.side,
                "state": "running",
                "value": None if reading.value is None else round(reading.value, 1),
                "confidence": None if reading.confidence is None else round(reading.confidence, 2),
                # Why the frame was left out ("" when used), in the clinician's words, and
                # whether its value could be proposed (inside the test's range).
                "leftOut": LEFT_OUT_REASONS.get(reading.left_out, ""),
                "inRange": reading.in_range,
                "framing": {"ok": reading.framing.ok, "hint": reading.framing.hint},
                "skeleton": reading.skeleton,
                "aspect": self.analysis.aspect if self.analysis else None,
                "frame": arrived.number,
                "arrivedAt": arrived.wall,
            },
        )
        framing = (reading.framing.ok, reading.framing.hint)
        if framing != self.framing:
            self.framing = framing
            await layer.group_send(
                self.room_group,
                {"type": "room.framing", "id": self.uuid, "ok": framing[0], "hint": framing[1]},
            )

    async def end(self, reason: str, *, failed: bool = False) -> None:
        if self.ending:
            return
        self.ending = True
        current = asyncio.current_task()
        for task in (self.task, self.watch):
            if task is not None and task is not current:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.peer.close()
        loop = asyncio.get_running_loop()
        summary = await loop.run_in_executor(self.executor, self._finish)
        # No thread outlives the measurement.
        await loop.run_in_executor(None, self.executor.shutdown)
        status = MeasurementStatus.FAILED if failed else MeasurementStatus.ENDED
        # Nothing of it runs any more: the worker may take another (even if saving fails).
        self.worker.sessions.pop(self.uuid, None)
        await database_sync_to_async(measurement_record)(
            measurement_id=self.measurement_id,
            status=status,
            reason=reason,
            summary=summary,
            landmarks=self.kept,
            frames_received=self.peer.received,
            frames_analysed=self.analysed,
            frames_dropped=self.peer.dropped,
            now=timezone.now(),
        )
        # measurement_record told the clinician's panel; the client's page hears it here.
        await self.worker.channel_layer.group_send(
            self.room_group, {"type": "room.framing", "id": self.uuid, "ok": True, "hint": ""}
        )

    def _finish(self) -> dict[str, Any]:
        summary = self.analysis.finish().as_dict() if self.analysis else {"frames": 0}
        if self.model is not None:
            self.model.close()
            self.model = None
        return summary


class MediaWorkerConsumer(AsyncConsumer):
    """Handles ``media.*`` messages: offers from clients' pages (via the room consumer), their
    candidates, and stops."""

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        self.sessions: dict[str, MeasurementSession] = {}
        # Usually already under way since the process loaded the ASGI application.
        pose_library_import()
        try:
            await super().__call__(scope, receive, send)
        finally:
            for session in list(self.sessions.values()):
                await session.end("the media worker stopped")

    async def media_offer(self, message: dict[str, Any]) -> None:
        measurement_uuid = message["measurement"]
        reply_to = message["reply_to"]
        if len(self.sessions) >= settings.MEDIA_MAX_SESSIONS:
            await self._refuse(
                reply_to,
                measurement_uuid,
                "The server is busy measuring other sessions: try again in a minute.",
            )
            return
        measurement = await database_sync_to_async(measurement_for_worker)(
            measurement_uuid=measurement_uuid, appointment_uuid=message["appointment"]
        )
        if measurement is None or measurement_uuid in self.sessions:
            await self._refuse(reply_to, measurement_uuid, "This measurement is not open.")
            return
        session = MeasurementSession(
            measurement_id=measurement.pk,
            measurement_uuid=measurement_uuid,
            assessment_uuid=measurement.assessment.uuid,
            appointment_uuid=measurement.assessment.appointment.uuid,
            protocol=measurement.protocol,
            side=measurement.side,
            worker=self,
        )
        self.sessions[measurement_uuid] = session
        try:
            answer = await session.answer(message["sdp"])
        except Exception as error:
            logger.warning("Bad media offer for %s: %s", measurement_uuid, error)
            await session.end("the connection could not be set up", failed=True)
            await self._refuse(reply_to, measurement_uuid, "The camera connection failed.")
            return
        await database_sync_to_async(measurement_running)(
            measurement_id=measurement.pk, worker_channel=self.channel_name, now=timezone.now()
        )
        await self.channel_layer.send(
            reply_to,
            {
                "type": "room.media_answer",
                "id": measurement_uuid,
                "sdp": answer,
                "worker": self.channel_name,
            },
        )
        session.run()

    async def media_candidate(self, message: dict[str, Any]) -> None:
        session = self.sessions.get(message["measurement"])
        if session is not None:
            with contextlib.suppress(Exception):
                await session.peer.add_candidate(message["candidate"])

    async def media_present(self, message: dict[str, Any]) -> None:
        session = self.sessions.get(message["measurement"])
        if session is not None:
            session.present()

    async def media_stop(self, message: dict[str, Any]) -> None:
        session = self.sessions.get(message["measurement"])
        if session is not None:
            await session.end(message.get("reason") or "stopped")

    async def _refuse(self, reply_to: str, measurement_uuid: str, text: str) -> None:
        await self.channel_layer.send(
            reply_to, {"type": "room.media_error", "id": measurement_uuid, "message": text}
        )


_inline_workers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task]" = (
    weakref.WeakKeyDictionary()
)


def ensure_inline_worker() -> None:
    """In the quick start the media worker runs on the web server's own event loop."""
    if settings.MEDIA_WORKER != "inline":
        return
    loop = asyncio.get_running_loop()
    task = _inline_workers.get(loop)
    if task is not None and not task.done():
        return
    layer = get_channel_layer()

    async def receive() -> dict[str, Any]:
        return await layer.receive(settings.MEDIA_CHANNEL)

    async def send(message: dict[str, Any]) -> None:
        return None

    consumer = MediaWorkerConsumer()
    _inline_workers[loop] = loop.create_task(
        consumer({"type": "channel", "channel": settings.MEDIA_CHANNEL}, receive, send),
        name="inline media worker",
    )
