"""Frame sizes through the real server: daphne in front of the signaling consumer.

Two limits apply to a frame from a browser: the signaling server's own
(SIGNALING_MAX_MESSAGE_BYTES, 64 KiB: an error frame, the connection stays) and, far above it,
daphne's (1 MiB). Over daphne's, autobahn closes the connection with 1009 ("message too big",
telehealth/websocket_server.py: not by dropping it, which a browser would see as 1006) and the
room page reconnects; the consumer never sees the frame.
"""

import asyncio
import datetime as dt
import json
import os
import signal
import time
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from sessions.models import Appointment, AppointmentStatus, RoomConnection, RoomEvent
from sessions.room.services import room_admit
from sessions.tasks import release_stale_seats
from tests import factories
from tests.asgi_server import AsgiServer
from tests.conftest import session_key_for

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 10
db = database_sync_to_async


async def open_socket(server: AsgiServer, path: str, session_key: str) -> ClientConnection:
    socket = await connect(
        f"ws://localhost:{server.port}{path}",
        origin=Origin(server.url),
        additional_headers={"Cookie": f"sessionid={session_key}"},
        open_timeout=TIMEOUT,
        max_size=None,
    )
    assert (await next_frame(socket))["type"] == "welcome"
    return socket


async def next_frame(socket: ClientConnection, kind: str | None = None) -> dict[str, Any]:
    while True:
        frame = json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT))
        if kind is None or frame["type"] == kind:
            return frame


async def until_closed(socket: ClientConnection) -> ConnectionClosed:
    try:
        while True:
            await asyncio.wait_for(socket.recv(), TIMEOUT)
    except ConnectionClosed as closed:
        return closed


def test_oversized_frames_get_an_error_or_close_with_1009_and_leaving_is_recorded(
    asgi_server: AsgiServer, service, clinician, client_record
) -> None:
    appointment = factories.make_appointment(
        service=service,
        clinician=clinician,
        client=client_record,
        starts_at=timezone.now().replace(microsecond=0) + dt.timedelta(minutes=5),
    )
    room_admit(appointment=appointment, user=clinician.user, now=timezone.now())
    path = f"/ws/appointments/{appointment.uuid}/room/"
    client_key, clinician_key = session_key_for(client_record.user), session_key_for(clinician.user)

    async def scenario() -> None:
        maya = await open_socket(asgi_server, path, clinician_key)
        ana = await open_socket(asgi_server, path, client_key)
        await next_frame(maya, "peer")

        # Over the signaling limit, under daphne's: refused, and the socket goes on.
        await ana.send(json.dumps({"type": "chat", "body": "x" * 100_000}))
        assert (await next_frame(ana, "error"))["code"] == "too_large"
        await ana.send("[" * 60_000)
        assert (await next_frame(ana, "error"))["code"] == "bad_json"
        await ana.send(json.dumps({"type": "chat", "body": "Still here"}))
        assert (await next_frame(maya, "chat"))["body"] == "Still here"

        # Over daphne's limit: the connection is closed with 1009, and the room still learns
        # that Ana left.
        await ana.send(json.dumps({"type": "chat", "body": "x" * (1024 * 1024 + 1)}))
        closed = await until_closed(ana)
        assert closed.rcvd.code == 1009
        assert (await next_frame(maya, "peer"))["state"] == "left"
        await maya.close()

    asyncio.run(scenario())
    # Maya's socket closed last; the server records it as it hears of it.
    deadline = time.monotonic() + TIMEOUT
    while RoomConnection.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not RoomConnection.objects.exists()
    kinds = list(RoomEvent.objects.filter(role="client").values_list("kind", flat=True))
    assert kinds == ["joined", "left"]


def test_ending_the_session_for_both_logs_no_error(
    asgi_server: AsgiServer, service, clinician, client_record
) -> None:
    # Each side's leaving is announced to the other while the other's socket is closing: that
    # announcement must not be sent on the closed connection ("Attempt to send on a closed
    # protocol", a traceback in daphne's log, and a consumer killed before it released its
    # seat).
    client_key, clinician_key = session_key_for(client_record.user), session_key_for(clinician.user)
    for _ in range(2):
        appointment = factories.make_appointment(
            service=service,
            clinician=clinician,
            client=client_record,
            starts_at=timezone.now().replace(microsecond=0) + dt.timedelta(minutes=5),
        )
        room_admit(appointment=appointment, user=clinician.user, now=timezone.now())
        path = f"/ws/appointments/{appointment.uuid}/room/"

        async def scenario(path: str = path) -> None:
            ana = await open_socket(asgi_server, path, client_key)
            maya = await open_socket(asgi_server, path, clinician_key)
            await next_frame(ana, "peer")
            # Ana's browser is slow to answer the server's close (a busy tab, a slow
            # network): Maya's socket closes first, and Ana's consumer hears that Maya left
            # while its own connection is closing.
            ana.transport.pause_reading()
            await maya.send(json.dumps({"type": "bye", "end": True}))
            assert (await next_frame(maya, "ended")) == {"type": "ended"}
            assert (await until_closed(maya)).rcvd.code == 4000
            await asyncio.sleep(0.5)
            ana.transport.resume_reading()
            assert (await next_frame(ana, "ended")) == {"type": "ended"}
            assert (await until_closed(ana)).rcvd.code == 4000

        asyncio.run(scenario())
        wait_for_seats_released()
        # Out of the way of the next session's times (a finished one still holds them).
        Appointment.objects.filter(pk=appointment.pk).update(status=AppointmentStatus.CANCELLED)
    asgi_server.stop()
    log = asgi_server.log()
    assert "Traceback" not in log, log
    assert "closed protocol" not in log, log
    assert "ERROR" not in log, log


def wait_for_seats_released() -> None:
    deadline = time.monotonic() + TIMEOUT
    while RoomConnection.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not RoomConnection.objects.exists()


@pytest.mark.parametrize(
    "asgi_server", [{"env": {"ROOM_SEAT_HEARTBEAT_SECONDS": "1"}}], indirect=True
)
def test_the_seat_of_a_killed_server_is_released_and_the_client_can_join_again(
    asgi_server: AsgiServer, service, clinician, client_record, settings, tmp_path
) -> None:
    # Maya is on one server, Ana on another, which is killed (no close, no disconnect()):
    # Ana's seat goes stale, the beat task releases it, Maya hears that Ana left, the
    # dashboard no longer shows her waiting, and Ana joins again through the first server.
    settings.ROOM_SEAT_HEARTBEAT_SECONDS = 1
    appointment = factories.make_appointment(
        service=service,
        clinician=clinician,
        client=client_record,
        starts_at=timezone.now().replace(microsecond=0) + dt.timedelta(minutes=5),
    )
    path = f"/ws/appointments/{appointment.uuid}/room/"
    client_key, clinician_key = session_key_for(client_record.user), session_key_for(clinician.user)
    doomed = AsgiServer(env=asgi_server.env, log_path=tmp_path / "daphne-doomed.log")
    doomed.start()

    async def scenario() -> None:
        maya = await open_socket(asgi_server, path, clinician_key)
        ana = await open_socket(doomed, path, client_key)
        assert (await next_frame(maya, "peer"))["state"] == "joined"
        assert (await db(Appointment.objects.get)(pk=appointment.pk)).status == "waiting"

        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.stop()
        await asyncio.sleep(3 * 1 + 1.5)  # three missed heartbeats, and some
        # Still Ana's: nothing but the beat task releases a seat.
        assert await db(RoomConnection.objects.filter(role="client").exists)()
        assert await db(release_stale_seats)() == 1

        assert (await next_frame(maya, "peer"))["state"] == "left"
        # Maya's own seat, refreshed by her live server, stays.
        assert await db(RoomConnection.objects.filter(role="clinician").exists)()
        assert (await db(Appointment.objects.get)(pk=appointment.pk)).status == "confirmed"

        ana = await open_socket(asgi_server, path, client_key)
        assert (await next_frame(maya, "peer"))["state"] == "joined"
        assert (await db(Appointment.objects.get)(pk=appointment.pk)).status == "waiting"
        await ana.close()
        await maya.close()

    try:
        asyncio.run(scenario())
    finally:
        doomed.stop()
    wait_for_seats_released()
    left = RoomEvent.objects.filter(kind="left", role="client").order_by("at")
    assert [event.detail for event in left] == [{"reason": "no heartbeat"}, {}]
