"""Measuring from real video, end to end: a real person's clip (../shared/media, BSD licence)
streamed by an aiortc peer playing the client, through the real signaling endpoint (daphne),
to the media worker over the channel layer (Redis), whose readings reach the clinician's socket.

The server runs with MEDIA_WORKER=separate and the worker runs here, in the test's event loop
(as ``manage.py runworker media`` would in its own process), so the test can see it clean up.
"""

import asyncio
import datetime as dt
import json
import threading
import time
import uuid
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pytest
from aioice.ice import get_host_addresses
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from channels.layers import get_channel_layer
from django.utils import timezone
from websockets.asyncio.client import connect
from websockets.typing import Origin

from assessments.media_worker import MediaWorkerConsumer
from assessments.models import Measurement, MeasurementStatus
from assessments.services import assessment_start_for_appointment
from clinic.audit import SYSTEM
from sessions.room import room_admit
from tests import factories
from tests.asgi_server import AsgiServer
from tests.conftest import session_key_for

pytestmark = pytest.mark.django_db(transaction=True)
CLIP = Path(__file__).resolve().parents[3] / "shared" / "media" / "pose2sim-single-person-cam02.mp4"
WIDTH, HEIGHT = 360, 640  # the clip is portrait, 1080 × 1920
SECONDS = 60
READINGS = 30


class ClipTrack(VideoStreamTrack):
    """The clip in a loop, downscaled, at 30 frames a second (as a phone camera would)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        container = av.open(str(path))
        self.frames = [
            frame.reformat(width=WIDTH, height=HEIGHT, format="yuv420p")
            for frame in container.decode(video=0)
        ]
        container.close()
        self.sent = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        source = self.frames[self.sent % len(self.frames)]
        frame = av.VideoFrame.from_ndarray(source.to_ndarray(), format="yuv420p")
        frame.pts, frame.time_base = pts, time_base or Fraction(1, 90000)
        self.sent += 1
        return frame


async def frames_of(socket, kind: str, *, timeout: float, until=None) -> list[dict[str, Any]]:
    """Frames of a kind until ``until(frame)`` holds (or one, without ``until``)."""
    found = []
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {kind} frame within {timeout}s: {found[-3:]}")
        frame = json.loads(await asyncio.wait_for(socket.recv(), remaining))
        if frame["type"] != kind:
            continue
        found.append(frame)
        if until is None or until(frame):
            return found


@pytest.fixture
def measured_room(asgi_server: AsgiServer, service, clinician, client_record, library):
    if not get_host_addresses(use_ipv4=True, use_ipv6=True):
        pytest.fail("aiortc needs a non-loopback network interface for host candidates.")
    appointment = factories.make_appointment(
        service=service,
        clinician=clinician,
        client=client_record,
        starts_at=timezone.now().replace(microsecond=0) + dt.timedelta(minutes=5),
    )
    room_admit(appointment=appointment, user=clinician.user, now=timezone.now())
    assessment = assessment_start_for_appointment(
        appointment=appointment, actor=clinician.user, context=SYSTEM, now=timezone.now()
    )
    return {
        "server": asgi_server,
        "appointment": str(appointment.uuid),
        "assessment": str(assessment.uuid),
        "clinician": session_key_for(clinician.user),
        "client": session_key_for(client_record.user),
    }


async def socket(server: AsgiServer, path: str, session: str):
    return await connect(
        server.url.replace("http://", "ws://") + path,
        origin=Origin(server.url),
        additional_headers={"Cookie": f"sessionid={session}"},
        max_size=2**22,
    )


@pytest.mark.parametrize(
    "asgi_server", [{"env": {"MEDIA_WORKER": "separate"}}], indirect=True, ids=["separate"]
)
def test_a_real_clip_is_measured_and_everything_is_cleaned_up(measured_room) -> None:
    room = measured_room
    server = room["server"]
    result: dict[str, Any] = {}

    async def scenario() -> None:
        layer = get_channel_layer()
        worker = MediaWorkerConsumer()

        async def receive() -> dict:
            return await layer.receive("media")

        async def ignore(message: dict) -> None:
            return None

        worker_task = asyncio.create_task(
            worker({"type": "channel", "channel": "media"}, receive, ignore), name="media worker"
        )
        clinician = await socket(
            server, f"/ws/assessments/{room['assessment']}/", room["clinician"]
        )
        client = await socket(
            server,
            f"/ws/appointments/{room['appointment']}/room/?page=p-{uuid.uuid4()}",
            room["client"],
        )
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        try:
            # Generous waits: the first measurement loads the pose model on a shared machine.
            await frames_of(clinician, "state", timeout=30)
            await frames_of(client, "welcome", timeout=30)
            await clinician.send(
                json.dumps(
                    {"type": "measure", "action": "start", "protocol": "lunge", "side": "left"}
                )
            )
            # The client's page hears it in the room's prompt and offers its camera.
            prompt = (
                await frames_of(
                    client, "prompt", timeout=30, until=lambda f: "measure" in (f["prompt"] or {})
                )
            )[-1]
            measure = prompt["prompt"]["measure"]
            assert measure["view"] == "front"
            assert prompt["prompt"]["title"] == "Lunge knee tracking"
            pc.addTransceiver(ClipTrack(CLIP), direction="sendonly")
            await pc.setLocalDescription(await pc.createOffer())
            await client.send(
                json.dumps(
                    {
                        "type": "media",
                        "action": "offer",
                        "id": measure["id"],
                        "sdp": pc.localDescription.sdp,
                    }
                )
            )
            [answer] = await frames_of(client, "media", timeout=30)
            assert answer["action"] == "answer", answer
            await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))

            # Live readings reach the clinician: the skeleton and the FPPA with its confidence.
            seen: list[dict] = []

            def enough(frame: dict) -> bool:
                if frame["state"] == "running":
                    seen.append(frame)
                return len(seen) >= READINGS

            running = await frames_of(clinician, "measurement", timeout=SECONDS, until=enough)
            readings = [f for f in running if f["state"] == "running"]
            framing = await frames_of(client, "framing", timeout=30)
            # Everyone is still connected; now the clinician stops.
            await clinician.send(
                json.dumps({"type": "measure", "action": "stop", "measurement": measure["id"]})
            )
            ended = (
                await frames_of(
                    clinician, "measurement", timeout=30, until=lambda f: f["state"] == "ended"
                )
            )[-1]
            # The prompt no longer asks for the camera.
            cleared = await frames_of(
                client, "prompt", timeout=30, until=lambda f: "measure" not in (f["prompt"] or {})
            )
            result.update(readings=readings, ended=ended, framing=framing, cleared=cleared)
            result["sessions_after"] = dict(worker.sessions)
        finally:
            await pc.close()
            await clinician.close()
            await client.close()
            worker_task.cancel()
            await asyncio.gather(worker_task, return_exceptions=True)

    started = time.monotonic()
    asyncio.run(scenario())
    print(f"measurement took {time.monotonic() - started:.1f}s")

    readings = result["readings"]
    with_person = [r for r in readings if r["skeleton"] is not None]
    assert len(readings) == READINGS
    # Landmarks were found in most frames, and numbers came with a confidence.
    assert len(with_person) >= 0.8 * len(readings)
    numbers = [r for r in readings if r["value"] is not None]
    assert numbers, readings[:3]
    assert all(-90 <= r["value"] <= 90 and 0.5 <= r["confidence"] <= 1 for r in numbers)
    assert all(len(r["skeleton"]) == 12 for r in with_person)
    assert all(r["framing"]["hint"] for r in readings)
    # The analysis ran at a bounded rate: frames were dropped, not queued.
    summary = result["ended"]["summary"]
    assert summary["frames"] == len({r["frame"] for r in readings}) or summary["frames"] >= len(
        readings
    )
    assert result["ended"]["reason"] == "stopped by the clinician"
    # Cleaned up: no measurement left in the worker, no analysis thread alive.
    assert result["sessions_after"] == {}
    assert not [t.name for t in threading.enumerate() if t.name.startswith("pose-")]
    measurement = Measurement.objects.get()
    assert measurement.status == MeasurementStatus.ENDED
    assert measurement.frames_analysed >= 20
    assert measurement.frames_received >= measurement.frames_analysed
    assert len(measurement.landmarks) >= 0.8 * measurement.frames_analysed
    assert measurement.model_name == "MediaPipe Pose"
    assert measurement.model_version.startswith("0.10.21")
    assert measurement.worker_channel == ""
