"""The media worker on its own, driven over the real channel layer (Redis) as the room's
consumer drives it: it refuses what it should, and every way a measurement can end (no video,
the client leaving) closes the peer and ends its thread, and keeps the result."""

import asyncio
import datetime as dt
import threading
import time
from typing import Any

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from channels.layers import get_channel_layer
from django.utils import timezone

from assessments.media_worker import MediaWorkerConsumer
from assessments.models import Measurement, MeasurementStatus
from assessments.services import assessment_group
from tests.assessments.test_measure_over_webrtc import CLIP, ClipTrack

pytestmark = pytest.mark.django_db(transaction=True)


class SilentTrack(MediaStreamTrack):
    """A camera that never delivers a frame."""

    kind = "video"

    async def recv(self) -> Any:
        await asyncio.sleep(3600)


def make_measurement(assessment, clinician) -> Measurement:
    return Measurement.objects.create(
        assessment=assessment,
        protocol="lunge",
        side="left",
        started_at=timezone.now(),
        started_by=clinician.user,
    )


async def with_worker(scenario) -> dict:
    """Run ``scenario(layer, worker, inbox)`` next to a media worker; ``inbox`` is a channel
    that hears the assessment's group and the worker's replies."""
    layer = get_channel_layer()
    worker = MediaWorkerConsumer()

    async def receive() -> dict:
        return await layer.receive("media")

    async def ignore(message: dict) -> None:
        return None

    task = asyncio.create_task(worker({"type": "channel", "channel": "media"}, receive, ignore))
    inbox = await layer.new_channel()
    try:
        return await scenario(layer, worker, inbox)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def next_of(layer, channel: str, kind: str, *, timeout: float = 30, state: str = "") -> dict:
    deadline = time.monotonic() + timeout
    while True:
        message = await asyncio.wait_for(layer.receive(channel), deadline - time.monotonic())
        if message["type"] == kind and (not state or message.get("state") == state):
            return message


async def offer(layer, inbox: str, measurement: Measurement, pc: RTCPeerConnection) -> dict:
    await pc.setLocalDescription(await pc.createOffer())
    await layer.send(
        "media",
        {
            "type": "media.offer",
            "measurement": str(measurement.uuid),
            "sdp": pc.localDescription.sdp,
            "appointment": str(measurement.assessment.appointment.uuid),
            "reply_to": inbox,
        },
    )
    return await next_of(layer, inbox, "room.media_answer")


def no_pose_threads() -> bool:
    return not [t for t in threading.enumerate() if t.name.startswith("pose-")]


def test_a_measurement_without_video_ends_and_cleans_up(assessment, clinician, settings) -> None:
    settings.MEDIA_NO_VIDEO_SECONDS = 2
    measurement = make_measurement(assessment, clinician)
    group = assessment_group(assessment)

    async def scenario(layer, worker, inbox) -> dict:
        await layer.group_add(group, inbox)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTransceiver(SilentTrack(), direction="sendonly")
        answer = await offer(layer, inbox, measurement, pc)
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        ended = await next_of(layer, inbox, "assessment.measurement", state="ended")
        sessions = dict(worker.sessions)
        await pc.close()
        return {"ended": ended, "sessions": sessions}

    result = asyncio.run(with_worker(scenario))
    assert result["ended"]["reason"] == "no video arrived"
    assert result["sessions"] == {}
    assert no_pose_threads()
    measurement.refresh_from_db()
    assert measurement.status == MeasurementStatus.ENDED
    assert measurement.end_reason == "no video arrived"
    assert measurement.frames_analysed == 0


def test_the_client_leaving_ends_the_measurement(assessment, clinician) -> None:
    measurement = make_measurement(assessment, clinician)
    group = assessment_group(assessment)

    async def scenario(layer, worker, inbox) -> dict:
        await layer.group_add(group, inbox)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTransceiver(ClipTrack(CLIP), direction="sendonly")
        answer = await offer(layer, inbox, measurement, pc)
        assert answer["worker"] == worker.channel_name
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        first = await next_of(layer, inbox, "assessment.measurement", state="running")
        await pc.close()  # the client's page goes away
        ended = await next_of(layer, inbox, "assessment.measurement", state="ended")
        return {"first": first, "ended": ended, "sessions": dict(worker.sessions)}

    result = asyncio.run(with_worker(scenario))
    assert result["first"]["skeleton"] is not None
    assert result["ended"]["reason"] in {
        "connection closed",
        "connection failed",
        "the client's camera stopped",
    }
    assert result["sessions"] == {}
    assert no_pose_threads()
    measurement.refresh_from_db()
    assert measurement.status == MeasurementStatus.ENDED
    assert measurement.frames_analysed >= 1
    assert measurement.summary["frames"] == measurement.frames_analysed


def test_offers_the_worker_refuses(assessment, clinician, settings) -> None:
    settings.MEDIA_MAX_SESSIONS = 1
    first = make_measurement(assessment, clinician)
    ended = Measurement.objects.create(
        assessment=assessment,
        protocol="lunge",
        side="right",
        status=MeasurementStatus.ENDED,
        started_at=timezone.now() - dt.timedelta(minutes=5),
        started_by=clinician.user,
    )

    async def scenario(layer, worker, inbox) -> dict:
        refusals = {}
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTransceiver(SilentTrack(), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp

        async def send(measurement_uuid: str, body: str, appointment: str) -> dict:
            await layer.send(
                "media",
                {
                    "type": "media.offer",
                    "measurement": measurement_uuid,
                    "sdp": body,
                    "appointment": appointment,
                    "reply_to": inbox,
                },
            )
            while True:
                message = await asyncio.wait_for(layer.receive(inbox), 30)
                if message["type"] in ("room.media_answer", "room.media_error"):
                    return message

        appointment = str(assessment.appointment.uuid)
        refusals["ended"] = await send(str(ended.uuid), sdp, appointment)
        refusals["other room"] = await send(str(first.uuid), sdp, str(ended.uuid))
        refusals["bad sdp"] = await send(str(first.uuid), "v=0 nonsense", appointment)
        await pc.close()
        return {"refusals": refusals, "sessions": dict(worker.sessions)}

    result = asyncio.run(with_worker(scenario))
    refusals = result["refusals"]
    assert refusals["ended"]["message"] == "This measurement is not open."
    assert refusals["other room"]["message"] == "This measurement is not open."
    assert refusals["bad sdp"]["message"] == "The camera connection failed."
    assert result["sessions"] == {}
    first.refresh_from_db()
    assert first.status == MeasurementStatus.FAILED
    assert no_pose_threads()


def test_a_busy_worker_says_so(assessment, clinician, settings) -> None:
    settings.MEDIA_MAX_SESSIONS = 1
    settings.MEDIA_NO_VIDEO_SECONDS = 30
    first, second = make_measurement(assessment, clinician), make_measurement(assessment, clinician)

    async def scenario(layer, worker, inbox) -> dict:
        pcs = []
        answers = []
        for measurement in (first, second):
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            pc.addTransceiver(SilentTrack(), direction="sendonly")
            await pc.setLocalDescription(await pc.createOffer())
            pcs.append(pc)
            await layer.send(
                "media",
                {
                    "type": "media.offer",
                    "measurement": str(measurement.uuid),
                    "sdp": pc.localDescription.sdp,
                    "appointment": str(assessment.appointment.uuid),
                    "reply_to": inbox,
                },
            )
            while True:
                message = await asyncio.wait_for(layer.receive(inbox), 30)
                if message["type"] in ("room.media_answer", "room.media_error"):
                    answers.append(message)
                    break
        await layer.send(
            answers[0]["worker"],
            {"type": "media.stop", "measurement": str(first.uuid), "reason": "stopped"},
        )
        for pc in pcs:
            await pc.close()
        for _ in range(100):
            if not worker.sessions:
                break
            await asyncio.sleep(0.05)
        return {"answers": answers, "sessions": dict(worker.sessions)}

    result = asyncio.run(with_worker(scenario))
    first_answer, second_answer = result["answers"]
    assert first_answer["type"] == "room.media_answer"
    assert second_answer == {
        "type": "room.media_error",
        "id": str(second.uuid),
        "message": "The server is busy measuring other sessions: try again in a minute.",
    }
    assert result["sessions"] == {}
    first.refresh_from_db()
    assert (first.status, first.end_reason) == (MeasurementStatus.ENDED, "stopped")
