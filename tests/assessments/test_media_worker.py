"""The media worker on its own, driven over the real channel layer (Redis) as the room's
consumer drives it: it refuses what it should, and every way a measurement can end (no video,
the client leaving, the time limit, a failed connection, no clinician's panel left open)
closes the peer, ends its thread and its tasks, and keeps the result. While it runs it reports
that it is alive."""

import asyncio
import datetime as dt
import gc
import os
import subprocess
import sys
import threading
import time
import uuid
import weakref
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import aioice.ice
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone

from assessments.models import Measurement, MeasurementStatus
from assessments.services import assessment_group
from tests.assessments.conftest import open_panel
from tests.assessments.synthetic_poses import SCRIPTED_LUNGE, ScriptedLunge
from tests.assessments.test_measure_over_webrtc import CLIP, ClipTrack, worker_running_here
from tests.conftest import session_key_for
from tests.webrtc_peer import PatternTrack

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_panel_needed(settings) -> None:
    # The inbox that hears the assessment's group stands in for the clinician's panel but does
    # not answer the worker's roll call; the roll call's own test opens real panels.
    settings.MEDIA_PANEL_GRACE_SECONDS = 600


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
    worker, task = worker_running_here()
    inbox = await layer.new_channel()
    try:
        result = await scenario(layer, worker, inbox)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    result["leftover_tasks"] = await leftover_tasks()
    return result


async def leftover_tasks(*, timeout: float = 5) -> list[str]:
    """Tasks still alive (besides this one) once the measurement and the worker are over: the
    peer's, the analysis loop's or the watch's would show here."""
    loop = asyncio.get_running_loop()
    current = asyncio.current_task()
    deadline = loop.time() + timeout
    while True:
        leftovers = [task for task in asyncio.all_tasks() if task is not current]
        if not leftovers or loop.time() > deadline:
            return [repr(task) for task in leftovers]
        await asyncio.sleep(0.05)


def pull_the_cable(pc: RTCPeerConnection) -> None:
    """The client's network goes: its sockets close without a word to the server (no DTLS
    close, no RTCP BYE), as when a laptop's Wi-Fi drops or the browser is killed."""
    for transceiver in pc.getTransceivers():
        ice = transceiver.sender.transport.transport
        for protocol in ice._connection._protocols:
            protocol.transport.close()


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
    assert result["leftover_tasks"] == []
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
        "the connection to the client's camera was lost",
        "the client's camera stopped",
    }
    assert result["sessions"] == {}
    assert no_pose_threads()
    assert result["leftover_tasks"] == []
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
    assert result["leftover_tasks"] == []


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
        # The worker drops the session before it records the end (so that it may take
        # another): wait for the record, not only for the session to go.
        for _ in range(100):
            status = await database_sync_to_async(
                lambda: Measurement.objects.values_list("status", flat=True).get(pk=first.pk)
            )()
            if not worker.sessions and status != MeasurementStatus.RUNNING:
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
    assert result["leftover_tasks"] == []
    first.refresh_from_db()
    assert (first.status, first.end_reason) == (MeasurementStatus.ENDED, "stopped")


def test_a_measurement_reaching_its_time_limit_ends_and_cleans_up(
    assessment, clinician, settings
) -> None:
    settings.POSE_MODEL = SCRIPTED_LUNGE
    settings.MEDIA_MAX_SECONDS = 2
    measurement = make_measurement(assessment, clinician)

    async def scenario(layer, worker, inbox) -> dict:
        await layer.group_add(assessment_group(assessment), inbox)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTransceiver(PatternTrack("client"), direction="sendonly")
        answer = await offer(layer, inbox, measurement, pc)
        answered = time.monotonic()
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        ended = await next_of(layer, inbox, "assessment.measurement", state="ended")
        took = time.monotonic() - answered
        sessions = dict(worker.sessions)
        await pc.close()
        return {"ended": ended, "took": took, "sessions": sessions}

    result = asyncio.run(with_worker(scenario))
    assert result["ended"]["reason"] == "time limit reached"
    assert result["took"] < 2 + 3  # the limit, plus a heartbeat and some slack
    assert result["sessions"] == {}
    assert no_pose_threads()
    assert result["leftover_tasks"] == []
    measurement.refresh_from_db()
    assert (measurement.status, measurement.end_reason) == (
        MeasurementStatus.ENDED,
        "time limit reached",
    )
    assert measurement.frames_analysed > 0
    assert measurement.worker_channel == ""


def test_a_connection_that_fails_ends_the_measurement_and_cleans_up(
    assessment, clinician, settings, monkeypatch
) -> None:
    settings.POSE_MODEL = SCRIPTED_LUNGE
    settings.MEDIA_NO_VIDEO_SECONDS = 120  # only the failure may end it
    # ICE consent (RFC 7675) is checked every 5 s and lost after 6 failures; shortened here
    # so that the failure is noticed in a second or two instead of half a minute.
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.5)
    monkeypatch.setattr(aioice.ice, "CONSENT_FAILURES", 2)
    measurement = make_measurement(assessment, clinician)

    async def scenario(layer, worker, inbox) -> dict:
        await layer.group_add(assessment_group(assessment), inbox)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTransceiver(PatternTrack("client"), direction="sendonly")
        answer = await offer(layer, inbox, measurement, pc)
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        await next_of(layer, inbox, "assessment.measurement", state="running")
        pull_the_cable(pc)
        ended = await next_of(layer, inbox, "assessment.measurement", state="ended")
        sessions = dict(worker.sessions)
        await pc.close()
        return {"ended": ended, "sessions": sessions}

    result = asyncio.run(with_worker(scenario))
    assert result["ended"]["reason"] == "the connection to the client's camera was lost"
    assert result["sessions"] == {}
    assert no_pose_threads()
    assert result["leftover_tasks"] == []
    measurement.refresh_from_db()
    assert measurement.status == MeasurementStatus.ENDED
    assert measurement.end_reason == "the connection to the client's camera was lost"
    assert measurement.frames_analysed > 0


def test_a_measurement_ends_once_no_panel_of_the_clinician_is_open(
    assessment, clinician, settings
) -> None:
    settings.MEDIA_PANEL_GRACE_SECONDS = 3
    settings.MEDIA_HEARTBEAT_SECONDS = 1
    settings.MEDIA_NO_VIDEO_SECONDS = 120
    measurement = make_measurement(assessment, clinician)
    session_key = session_key_for(clinician.user)

    @database_sync_to_async
    def heartbeat() -> dt.datetime | None:
        return Measurement.objects.get(pk=measurement.pk).heartbeat_at

    async def scenario(layer, worker, inbox) -> dict:
        await layer.group_add(assessment_group(assessment), inbox)
        first_panel = await open_panel(assessment, session_key)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTransceiver(SilentTrack(), direction="sendonly")
        answer = await offer(layer, inbox, measurement, pc)
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        first_beat = await heartbeat()
        # The clinician reloads the page: the old panel goes, a new one comes half a second
        # later and is told about the measurement.
        await asyncio.sleep(1)
        await first_panel.disconnect()
        await asyncio.sleep(0.5)
        second_panel = await open_panel(assessment, session_key)
        # Longer than the grace: the new panel answers the roll call, the measurement goes on.
        await asyncio.sleep(5)
        still_running = str(measurement.uuid) in worker.sessions
        later_beat = await heartbeat()
        # The clinician closes the page.
        await second_panel.disconnect()
        closed = time.monotonic()
        ended = await next_of(layer, inbox, "assessment.measurement", state="ended")
        waited = time.monotonic() - closed
        sessions = dict(worker.sessions)
        await pc.close()
        return {
            "reloaded_state": second_panel.state,
            "still_running": still_running,
            "beats": (first_beat, later_beat),
            "ended": ended,
            "waited": waited,
            "sessions": sessions,
        }

    result = asyncio.run(with_worker(scenario))
    [shown] = result["reloaded_state"]["measurements"]
    assert (shown["measurement"], shown["state"]) == (str(measurement.uuid), "running")
    assert result["still_running"]
    # The worker reported that it was alive while it ran.
    first_beat, later_beat = result["beats"]
    assert later_beat - first_beat >= dt.timedelta(seconds=5)
    assert result["ended"]["reason"] == "the clinician's panel was closed"
    # The grace counts from the panel's last answer, at most a heartbeat before it closed.
    assert 3 - 1 - 0.5 <= result["waited"] <= 3 + 1 + 3
    assert result["sessions"] == {}
    assert no_pose_threads()
    assert result["leftover_tasks"] == []
    measurement.refresh_from_db()
    assert (measurement.status, measurement.end_reason) == (
        MeasurementStatus.ENDED,
        "the clinician's panel was closed",
    )


ROOT = Path(__file__).resolve().parents[2]

# A pose library as mediapipe is: its import keeps the error of an optional import of its own
# (mediapipe's audio module keeps sounddevice's as ``sd_error``), traceback and all. Or, with
# BROKEN, one whose import fails. Either way it notes in a file that its import was run.
LIBRARY = """
import pathlib

pathlib.Path({marker!r}).write_text("imported")
{broken}
try:
    import an_optional_dependency_that_is_not_installed
except ImportError as error:
    optional_dependency_error = error

from {model_module} import {model_class} as Model
"""
BROKEN = "import a_dependency_that_is_not_installed"


@dataclass
class PoseLibrary:
    name: str
    marker: Path  # exists once the library's import was run


def new_pose_library(tmp_path: Path, monkeypatch, settings, *, broken: bool = False) -> PoseLibrary:
    """A pose library that no process has imported yet, selected with POSE_MODEL."""
    name = f"pose_library_{uuid.uuid4().hex}"
    marker = tmp_path / f"{name}.imported"
    (tmp_path / f"{name}.py").write_text(
        LIBRARY.format(
            marker=str(marker),
            broken=BROKEN if broken else "",
            model_module=ScriptedLunge.__module__,
            model_class=ScriptedLunge.__qualname__,
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    settings.POSE_MODEL = f"{name}.Model"
    return PoseLibrary(name=name, marker=marker)


@pytest.mark.parametrize("broken", [False, True], ids=["keeps an import error", "fails"])
def test_nothing_of_a_measurement_outlives_it_whatever_its_pose_library_does_on_import(
    assessment, clinician, settings, tmp_path, monkeypatch, broken
) -> None:
    library = new_pose_library(tmp_path, monkeypatch, settings, broken=broken)
    measurement = make_measurement(assessment, clinician)
    alive: dict[str, weakref.ref] = {}

    async def scenario(layer, worker, inbox) -> dict:
        await layer.group_add(assessment_group(assessment), inbox)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTransceiver(PatternTrack("client"), direction="sendonly")
        answer = await offer(layer, inbox, measurement, pc)
        session = worker.sessions[str(measurement.uuid)]
        alive.update(
            session=weakref.ref(session),
            peer=weakref.ref(session.peer),
            connection=weakref.ref(session.peer.pc),
        )
        del session
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        if not broken:
            await next_of(layer, inbox, "assessment.measurement", state="running")
            await pc.close()
        ended = await next_of(
            layer, inbox, "assessment.measurement", state="failed" if broken else "ended"
        )
        await pc.close()
        return {"ended": ended}

    result = asyncio.run(with_worker(scenario))
    gc.collect()
    assert {name: ref() is None for name, ref in alive.items()} == dict.fromkeys(alive, True)
    assert no_pose_threads()
    measurement.refresh_from_db()
    if broken:
        assert result["ended"]["reason"] == "the pose model could not be loaded on the media worker"
        assert measurement.status == MeasurementStatus.FAILED
        assert library.name not in sys.modules
    else:
        assert measurement.frames_analysed >= 1
        # The library did keep a traceback, as mediapipe does: what was tested is real.
        kept = sys.modules[library.name].optional_dependency_error
        assert isinstance(kept.__traceback__, TracebackType)


def test_the_media_worker_imports_its_pose_library_as_it_starts(
    settings, tmp_path, monkeypatch
) -> None:
    """So that the first reading of its first measurement does not wait for the import (about
    a second for mediapipe)."""
    library = new_pose_library(tmp_path, monkeypatch, settings)

    async def scenario(layer, worker, inbox) -> dict:
        deadline = time.monotonic() + 20
        while library.name not in sys.modules and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return {"imported": library.name in sys.modules, "sessions": dict(worker.sessions)}

    result = asyncio.run(with_worker(scenario))
    assert result == {"imported": True, "sessions": {}, "leftover_tasks": []}


def test_a_media_worker_process_imports_its_pose_library_before_any_measurement(
    settings, tmp_path, monkeypatch
) -> None:
    """`manage.py runworker media` starts its consumer only with the first offer: the import
    starts as the process loads the application. Other commands never import it."""
    library = new_pose_library(tmp_path, monkeypatch, settings)
    env = {
        **os.environ,
        "POSE_MODEL": settings.POSE_MODEL,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
    }
    subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, check=True, timeout=60
    )
    assert not library.marker.exists()

    log_path = tmp_path / "runworker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "runworker", "media"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while not library.marker.exists() and worker.poll() is None:
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        assert worker.poll() is None, log_path.read_text()
    finally:
        worker.terminate()
        worker.wait(15)
