"""The signaling server, through the full ASGI stack (auth, Origin check) on real Redis.

Ana's appointment with Maya starts in five minutes, so its room is open; Ben and Sam have one
at the same time in another room. Each test runs its WebSocket conversation in an event loop
with ``run``; database work inside it goes through ``db``.
"""

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import time_machine
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from clinic.models import User
from sessions.models import (
    MAX_DURATION_MINUTES,
    Appointment,
    AppointmentStatus,
    ChatMessage,
    RoomConnection,
    RoomEvent,
)
from sessions.room.services import join_window, room_admit, room_group
from telehealth.asgi import application
from tests import factories
from tests.conftest import session_key_for

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = "http://localhost"
WAIT_S = 10


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    async_to_sync(scenario)()


db = database_sync_to_async


@pytest.fixture
def soon(service, clinician, other_clinician, client_record, other_client_record):
    starts_at = timezone.now().replace(microsecond=0) + dt.timedelta(minutes=5)
    ana = factories.make_appointment(
        service=service, clinician=clinician, client=client_record, starts_at=starts_at
    )
    ben = factories.make_appointment(
        service=service, clinician=other_clinician, client=other_client_record, starts_at=starts_at
    )
    return ana, ben


class Socket:
    """One browser's signaling connection."""

    def __init__(
        self,
        appointment: Appointment,
        session_key: str | None,
        *,
        origin: str = ORIGIN,
        page: str = "page-1",
        path: str | None = None,
    ) -> None:
        headers = [(b"origin", origin.encode()), (b"host", b"localhost")]
        if session_key:
            headers.append((b"cookie", f"sessionid={session_key}".encode()))
        self.communicator = WebsocketCommunicator(
            application,
            path or f"/ws/appointments/{appointment.uuid}/room/?page={page}",
            headers=headers,
        )

    async def open(self) -> bool:
        connected, _ = await self.communicator.connect()
        return connected

    # What must arrive is waited for long enough for a loaded two-core machine (3 s once ran
    # out while joining); what must not arrive is still checked over its own short window.
    async def frame(self, timeout: float = WAIT_S) -> dict[str, Any]:
        output = await self.communicator.receive_output(timeout)
        assert output["type"] == "websocket.send", output
        return json.loads(output["text"])

    async def frame_of(self, kind: str, timeout: float = WAIT_S) -> dict[str, Any]:
        """The next frame of a kind, skipping presence chatter."""
        while True:
            frame = await self.frame(timeout)
            if frame["type"] == kind:
                return frame
            assert frame["type"] in ("peer", "state"), frame

    async def closed_with(self, timeout: float = WAIT_S) -> int:
        while True:
            output = await self.communicator.receive_output(timeout)
            if output["type"] == "websocket.close":
                return output.get("code", 1000)

    async def send(self, frame: Any) -> None:
        await self.communicator.send_to(
            text_data=frame if isinstance(frame, str) else json.dumps(frame)
        )

    async def nothing(self, timeout: float = 0.3) -> bool:
        return await self.communicator.receive_nothing(timeout)

    async def close(self) -> None:
        await self.communicator.disconnect()


def move(appointment: Appointment, starts_at: dt.datetime, **changes: Any) -> None:
    Appointment.objects.filter(pk=appointment.pk).update(
        **appointment.service.appointment_times(starts_at), **changes
    )


def keys(*users: User) -> list[str]:
    return [session_key_for(user) for user in users]


async def joined(
    appointment: Appointment, key: str, **options: Any
) -> tuple[Socket, dict[str, Any]]:
    socket = Socket(appointment, key, **options)
    assert await socket.open()
    welcome = await socket.frame()
    assert welcome["type"] == "welcome", welcome
    return socket, welcome


async def both_in_the_room(
    appointment: Appointment, client_key: str, clinician_key: str
) -> tuple[Socket, Socket]:
    """The client's and the clinician's sockets, each past the news of the other's arrival."""
    client, _ = await joined(appointment, client_key)
    clinician_socket, _ = await joined(appointment, clinician_key)
    await client.frame_of("peer")
    await clinician_socket.frame_of("peer")
    return client, clinician_socket


# --- Who gets in --------------------------------------------------------------------------------


def test_refused_connections_get_documented_close_codes(
    soon, clinician, other_clinician, client_record, other_client_record, admin_user
) -> None:
    ana, _ = soon
    other_client_key, other_clinician_key, admin_key = keys(
        other_client_record.user, other_clinician.user, admin_user
    )

    async def scenario() -> None:
        cases = [
            (Socket(ana, None), 4401),
            (Socket(ana, other_client_key), 4403),
            (Socket(ana, other_clinician_key), 4403),
            (Socket(ana, admin_key), 4403),
            (
                Socket(
                    ana,
                    other_client_key,
                    path="/ws/appointments/8d5e9ad4-7ad7-4b62-9d0e-3c3b5d6bb0a1/room/",
                ),
                4403,
            ),
        ]
        for socket, code in cases:
            assert await socket.open()
            assert await socket.closed_with() == code

    run(scenario)
    assert not RoomEvent.objects.exists()


@pytest.mark.parametrize(
    ("starts_in", "status"),
    [
        (dt.timedelta(minutes=16), AppointmentStatus.CONFIRMED),  # opens 15 minutes before
        (
            -dt.timedelta(minutes=45 + 31),
            AppointmentStatus.CONFIRMED,
        ),  # closed 30 minutes after the end
        (dt.timedelta(minutes=5), AppointmentStatus.CANCELLED),
        (dt.timedelta(minutes=5), AppointmentStatus.COMPLETED),
    ],
)
def test_outside_the_join_window_the_room_is_closed(soon, client_record, starts_in, status) -> None:
    ana, _ = soon
    move(ana, timezone.now() + starts_in, status=status)
    [key] = keys(client_record.user)

    async def scenario() -> None:
        socket = Socket(ana, key)
        assert await socket.open()
        assert await socket.closed_with() == 4408

    run(scenario)


def test_the_window_opens_fifteen_minutes_before_the_start(soon, client_record) -> None:
    ana, _ = soon
    move(ana, timezone.now() + dt.timedelta(minutes=14))
    [key] = keys(client_record.user)

    async def scenario() -> None:
        socket, welcome = await joined(ana, key)
        assert welcome["role"] == "client"
        await socket.close()

    run(scenario)


def test_a_foreign_origin_is_refused_during_the_handshake(soon, client_record) -> None:
    ana, _ = soon
    [key] = keys(client_record.user)

    async def scenario() -> None:
        socket = Socket(ana, key, origin="https://evil.example")
        assert not await socket.open()

    run(scenario)
    assert not RoomEvent.objects.exists()


# --- Roles, waiting room and admission -----------------------------------------------------------


def test_the_server_assigns_roles_and_the_client_waits(soon, clinician, client_record) -> None:
    ana, _ = soon
    client_key, clinician_key = keys(client_record.user, clinician.user)

    async def scenario() -> None:
        client, welcome = await joined(ana, client_key, page="client-page")
        assert welcome == {
            "type": "welcome",
            "role": "client",
            "polite": True,
            "admitted": False,
            "iceServers": [],
        }
        assert (await db(Appointment.objects.get)(pk=ana.pk)).status == AppointmentStatus.WAITING

        clinician_socket, welcome = await joined(ana, clinician_key, page="clinician-page")
        assert welcome["role"] == "clinician"
        assert welcome["polite"] is False
        # Each learns the other is there.
        assert await client.frame() == {
            "type": "peer",
            "state": "joined",
            "role": "clinician",
            "page": "clinician-page",
        }
        assert await clinician_socket.frame() == {
            "type": "peer",
            "state": "present",
            "role": "client",
            "page": "client-page",
        }

        await client.close()
        assert await clinician_socket.frame() == {
            "type": "peer",
            "state": "left",
            "role": "client",
            "page": "client-page",
        }
        assert (await db(Appointment.objects.get)(pk=ana.pk)).status == AppointmentStatus.CONFIRMED
        await clinician_socket.close()

    run(scenario)
    kinds = list(RoomEvent.objects.filter(appointment=ana).values_list("role", "kind"))
    assert kinds == [
        ("client", "joined"),
        ("clinician", "joined"),
        ("client", "left"),
        ("clinician", "left"),
    ]


def test_media_frames_wait_for_admission_then_reach_only_the_peer(
    soon, clinician, client_record
) -> None:
    ana, _ = soon
    client_key, clinician_key = keys(client_record.user, clinician.user)

    async def scenario() -> None:
        client, _ = await joined(ana, client_key)
        clinician_socket, _ = await joined(ana, clinician_key)
        await client.frame_of("peer")

        await client.send({"type": "offer", "sdp": "v=0 early"})
        assert (await client.frame_of("error"))["code"] == "not_admitted"

        await db(room_admit)(appointment=ana, user=clinician.user, now=timezone.now())
        assert await client.frame_of("admitted") == {"type": "admitted"}
        assert await clinician_socket.frame_of("admitted") == {"type": "admitted"}

        await clinician_socket.send({"type": "offer", "sdp": "v=0 offer"})
        assert await client.frame_of("offer") == {
            "type": "offer",
            "sdp": "v=0 offer",
            "from": "clinician",
        }
        await client.send({"type": "answer", "sdp": "v=0 answer"})
        assert await clinician_socket.frame_of("answer") == {
            "type": "answer",
            "sdp": "v=0 answer",
            "from": "client",
        }
        await client.send(
            {
                "type": "candidate",
                "candidate": {
                    "candidate": "candidate:1 1 udp 1 10.1.2.3 9 typ host",
                    "sdpMid": "0",
                    "sdpMLineIndex": 0,
                },
            }
        )
        candidate = await clinician_socket.frame_of("candidate")
        assert candidate["candidate"]["candidate"].endswith("typ host")
        await client.send({"type": "candidate", "candidate": None})
        assert (await clinician_socket.frame_of("candidate"))["candidate"] is None
        # Nobody hears their own frames back.
        assert await client.nothing()
        assert await clinician_socket.nothing()
        await client.close()
        await clinician_socket.close()

    run(scenario)
    ana.refresh_from_db()
    assert ana.status == AppointmentStatus.IN_PROGRESS
    assert ana.admitted_at is not None


def test_frames_never_cross_into_another_room(
    soon, clinician, other_clinician, client_record, other_client_record
) -> None:
    ana, ben = soon
    for appointment, person in ((ana, clinician.user), (ben, other_clinician.user)):
        room_admit(appointment=appointment, user=person, now=timezone.now())
    ana_key, maya_key, ben_key, sam_key = keys(
        client_record.user, clinician.user, other_client_record.user, other_clinician.user
    )

    async def scenario() -> None:
        ana_socket, _ = await joined(ana, ana_key)
        maya, _ = await joined(ana, maya_key)
        ben_socket, _ = await joined(ben, ben_key)
        sam, _ = await joined(ben, sam_key)
        for socket in (ana_socket, maya, ben_socket, sam):
            await socket.frame_of("peer")

        await maya.send({"type": "offer", "sdp": "for Ana only"})
        await maya.send({"type": "chat", "body": "Ana, can you hear me?"})

        assert (await ana_socket.frame_of("offer"))["sdp"] == "for Ana only"
        assert (await ana_socket.frame_of("chat"))["body"] == "Ana, can you hear me?"
        assert await ben_socket.nothing()
        assert await sam.nothing()
        for socket in (ana_socket, maya, ben_socket, sam):
            await socket.close()

    run(scenario)


# --- Bad frames and limits -----------------------------------------------------------------------


def test_bad_frames_get_an_error_and_the_connection_stays_usable(
    soon, clinician, client_record
) -> None:
    ana, _ = soon
    # Let in: a client in the waiting room cannot chat yet.
    room_admit(appointment=ana, user=clinician.user, now=timezone.now())
    client_key, clinician_key = keys(client_record.user, clinician.user)

    async def scenario() -> None:
        client, clinician_socket = await both_in_the_room(ana, client_key, clinician_key)

        await client.communicator.send_to(bytes_data=b"\x00\x01")
        assert (await client.frame_of("error"))["code"] == "bad_frame"
        for bad, code in [
            ("{nope", "bad_json"),
            ('["offer"]', "bad_frame"),
            ({"type": "join-room"}, "unknown_type"),
            ({"type": "chat", "body": "hi", "to": "everyone"}, "unknown_field"),
            ({"type": "chat", "body": "x" * 70_000}, "too_large"),
            ({"type": "bye", "end": True}, "not_allowed"),  # only the clinician ends for both
        ]:
            await client.send(bad)
            error = await client.frame_of("error")
            assert error["code"] == code, (bad, error)
            assert error["message"]
        assert await clinician_socket.nothing()

        await client.send({"type": "chat", "body": "Still here"})
        assert (await clinician_socket.frame_of("chat"))["body"] == "Still here"
        await client.close()
        await clinician_socket.close()

    run(scenario)
    assert list(ChatMessage.objects.values_list("body", flat=True)) == ["Still here"]


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        # Under the byte limit, but nested too deep for the JSON parser's recursion.
        ("[" * 60_000, "bad_json"),
        # A known field with a value of the wrong type.
        ('{"type": "state", "connection": []}', "bad_field"),
        ('{"type": "media", "action": ["offer"], "id": "x"}', "bad_field"),
        # Text PostgreSQL cannot store, and text that is not Unicode at all.
        ('{"type": "chat", "body": "before\\u0000after"}', "bad_field"),
        ('{"type": "chat", "body": "lone \\ud800 surrogate"}', "bad_field"),
        # The same two as raw characters in the frame's text.
        ('{"type": "chat", "body": "before\u0000after"}', "bad_json"),
        ('{"type": "chat", "body": "lone \ud800 surrogate"}', "bad_frame"),
    ],
    ids=[
        "deep-nesting",
        "connection-list",
        "action-list",
        "escaped-nul",
        "escaped-surrogate",
        "raw-nul",
        "raw-surrogate",
    ],
)
def test_frames_that_could_break_the_server_get_an_error_and_the_room_goes_on(
    soon, clinician, client_record, frame, code
) -> None:
    ana, _ = soon
    # Let in: a client in the waiting room cannot chat yet.
    room_admit(appointment=ana, user=clinician.user, now=timezone.now())
    client_key, clinician_key = keys(client_record.user, clinician.user)

    async def scenario() -> None:
        client, clinician_socket = await both_in_the_room(ana, client_key, clinician_key)

        await client.send(frame)
        error = await client.frame_of("error")
        assert error["code"] == code, error
        assert error["message"]
        assert await clinician_socket.nothing()

        # Still usable: the next frame is relayed and kept.
        await client.send({"type": "chat", "body": "Still here"})
        assert (await clinician_socket.frame_of("chat"))["body"] == "Still here"
        # And leaving is still recorded: the clinician hears it and the seat is free.
        await client.close()
        assert (await clinician_socket.frame_of("peer"))["state"] == "left"
        await clinician_socket.close()

    run(scenario)
    assert list(ChatMessage.objects.values_list("body", flat=True)) == ["Still here"]
    assert not RoomConnection.objects.exists()


def test_a_frame_the_server_fails_to_handle_gets_an_error_and_the_connection_stays(
    soon, clinician, client_record, caplog
) -> None:
    # Any failure while handling a frame, not only a refused frame: here the appointment is
    # deleted in the admin during the call, so keeping a chat message fails in the database.
    ana, _ = soon
    # Let in: a client in the waiting room cannot chat yet.
    room_admit(appointment=ana, user=clinician.user, now=timezone.now())
    client_key, clinician_key = keys(client_record.user, clinician.user)

    async def scenario() -> None:
        client, clinician_socket = await both_in_the_room(ana, client_key, clinician_key)
        await db(Appointment.objects.filter(pk=ana.pk).delete)()

        await client.send({"type": "chat", "body": "Hello?"})
        error = await client.frame_of("error")
        assert error == {
            "type": "error",
            "code": "server_error",
            "message": "The server could not handle that message. Try again.",
        }
        assert await clinician_socket.nothing()

        await client.send({"type": "state", "audio": False})
        assert await clinician_socket.frame_of("state") == {
            "type": "state",
            "audio": False,
            "from": "client",
        }
        await client.close()
        await clinician_socket.close()

    run(scenario)
    assert "Handling a chat frame failed" in caplog.text


def test_each_connection_is_rate_limited(soon, client_record, clinician, settings) -> None:
    settings.SIGNALING_BURST = 5
    settings.SIGNALING_MESSAGES_PER_SECOND = 2
    ana, _ = soon
    client_key, clinician_key = keys(client_record.user, clinician.user)

    async def scenario() -> None:
        client, clinician_socket = await both_in_the_room(ana, client_key, clinician_key)

        for _ in range(8):
            await client.send({"type": "state", "audio": True})
        relayed = errors = 0
        while not await client.nothing(0.3):
            frame = await client.frame()
            errors += frame["type"] == "error" and frame["code"] == "rate_limited"
        while not await clinician_socket.nothing(0.3):
            relayed += (await clinician_socket.frame())["type"] == "state"
        assert relayed == 5
        assert errors == 3

        await asyncio.sleep(0.6)  # a token comes back after half a second
        await client.send({"type": "state", "video": False})
        assert await clinician_socket.frame_of("state") == {
            "type": "state",
            "video": False,
            "from": "client",
        }
        await client.close()
        await clinician_socket.close()

    run(scenario)


def test_a_second_tab_replaces_the_first(soon, clinician, client_record) -> None:
    ana, _ = soon
    client_key, clinician_key = keys(client_record.user, clinician.user)

    async def scenario() -> None:
        first, _ = await joined(ana, client_key, page="first-tab")
        clinician_socket, _ = await joined(ana, clinician_key)
        await first.frame_of("peer")
        await clinician_socket.frame_of("peer")

        second, _ = await joined(ana, client_key, page="second-tab")

        error = await first.frame_of("error")
        assert error["code"] == "replaced"
        assert await first.closed_with() == 4409
        assert await clinician_socket.frame_of("peer") == {
            "type": "peer",
            "state": "joined",
            "role": "client",
            "page": "second-tab",
        }
        # The old tab going away is not the client leaving.
        assert await clinician_socket.nothing(0.5)
        await clinician_socket.send({"type": "chat", "body": "Hello new tab"})
        assert (await second.frame_of("chat"))["body"] == "Hello new tab"
        await second.close()
        await clinician_socket.close()

    run(scenario)
    assert list(
        RoomEvent.objects.filter(appointment=ana, role="client").values_list("kind", flat=True)
    ) == ["joined", "joined", "left"]


def test_the_longest_possible_session_keeps_its_room_until_the_room_closes(
    clinician, client_record
) -> None:
    # A service as long as a clinic may set one up: both joined when the room opened, and
    # near its close (8 h 45 min later) frames still reach the other side.
    longest = factories.make_service(clinician, duration_minutes=MAX_DURATION_MINUTES)
    opens_in = dt.timedelta(seconds=5)
    starts_at = timezone.now() + dt.timedelta(minutes=15) + opens_in
    ana = factories.make_appointment(
        service=longest, clinician=clinician, client=client_record, starts_at=starts_at
    )
    almost_closed = join_window(ana).closes_at - dt.timedelta(minutes=1)
    client_key, clinician_key = keys(client_record.user, clinician.user)

    async def scenario() -> None:
        await asyncio.sleep(opens_in.total_seconds())
        await db(room_admit)(appointment=ana, user=clinician.user, now=timezone.now())
        client, clinician_socket = await both_in_the_room(ana, client_key, clinician_key)

        with time_machine.travel(almost_closed, tick=True):
            await clinician_socket.send({"type": "chat", "body": "Still with me?"})
            assert (await client.frame_of("chat"))["body"] == "Still with me?"
            assert (await clinician_socket.frame_of("chat"))["from"] == "clinician"  # own copy
            await client.send({"type": "chat", "body": "Yes"})
            assert (await clinician_socket.frame_of("chat"))["body"] == "Yes"
            await client.close()
            await clinician_socket.close()

    run(scenario)


def test_tabs_of_the_same_person_never_hear_each_other(soon, clinician, client_record) -> None:
    # While a second tab takes over, both of Ana's tabs are briefly in the room: the old one
    # until its close completes, with frames still in flight. Neither hears the other, and
    # what the old tab still sends reaches nobody.
    ana, _ = soon
    room_admit(appointment=ana, user=clinician.user, now=timezone.now())
    client_key, clinician_key = keys(client_record.user, clinician.user)

    async def scenario() -> None:
        first, _ = await joined(ana, client_key, page="first-tab")
        clinician_socket, _ = await joined(ana, clinician_key)
        await first.frame_of("peer")
        await clinician_socket.frame_of("peer")
        second, _ = await joined(ana, client_key, page="second-tab")
        assert (await first.frame_of("error"))["code"] == "replaced"
        assert await first.closed_with() == 4409
        assert (await clinician_socket.frame_of("peer"))["page"] == "second-tab"
        await second.frame_of("peer")

        # The old tab is not yet gone; the new one starts its call.
        await second.send({"type": "offer", "sdp": "v=0 second tab"})
        assert (await clinician_socket.frame_of("offer"))["sdp"] == "v=0 second tab"
        await first.send({"type": "candidate", "candidate": None})
        await first.send({"type": "state", "video": False})
        assert await first.nothing()
        assert await second.nothing()
        assert await clinician_socket.nothing()

        # Frames from the clinician reach the new tab only.
        await clinician_socket.send({"type": "answer", "sdp": "v=0 answer"})
        assert (await second.frame_of("answer"))["sdp"] == "v=0 answer"
        assert await first.nothing()
        for socket in (first, second, clinician_socket):
            await socket.close()

    run(scenario)


def test_a_frame_from_the_same_role_is_never_delivered(soon, clinician, client_record) -> None:
    # However two sockets of one person come to share the room (a takeover in flight, a
    # server that has not yet heard of the older socket's end), a frame is for the other role.
    ana, _ = soon
    client_key, clinician_key = keys(client_record.user, clinician.user)

    async def scenario() -> None:
        client, clinician_socket = await both_in_the_room(ana, client_key, clinician_key)

        await get_channel_layer().group_send(
            room_group(ana.uuid),
            {
                "type": "room.relay",
                "sender": "another-socket-of-anas",
                "frame": {"type": "state", "audio": False, "from": "client"},
            },
        )
        assert await clinician_socket.frame_of("state") == {
            "type": "state",
            "audio": False,
            "from": "client",
        }
        assert await client.nothing()
        await client.close()
        await clinician_socket.close()

    run(scenario)


# --- Chat, state and the end ----------------------------------------------------------------------


def test_chat_is_kept_with_the_appointment(soon, clinician, client_record) -> None:
    ana, _ = soon
    # Let in: a client in the waiting room cannot chat yet.
    room_admit(appointment=ana, user=clinician.user, now=timezone.now())
    client_key, clinician_key = keys(client_record.user, clinician.user)

    async def scenario() -> None:
        client, clinician_socket = await both_in_the_room(ana, client_key, clinician_key)

        await client.send({"type": "chat", "body": "My left knee hurts on stairs <b>today</b>"})
        received = await clinician_socket.frame_of("chat")
        own_copy = await client.frame_of("chat")

        assert received["body"] == "My left knee hurts on stairs <b>today</b>"
        assert received["from"] == "client"
        assert received["name"] == "Ana Silva"
        assert own_copy["id"] == received["id"]
        await client.close()
        await clinician_socket.close()

    run(scenario)
    message = ChatMessage.objects.get()
    assert message.appointment == ana
    assert message.sender == client_record.user
    assert message.sender_role == "client"


def test_chat_from_a_client_not_yet_let_in_is_refused_and_not_kept(
    soon, clinician, client_record
) -> None:
    ana, _ = soon
    client_key, clinician_key = keys(client_record.user, clinician.user)

    async def scenario() -> None:
        client, clinician_socket = await both_in_the_room(ana, client_key, clinician_key)

        await client.send({"type": "chat", "body": "Let me in!"})
        assert await client.frame_of("error") == {
            "type": "error",
            "code": "not_admitted",
            "message": "You can send messages once the clinician has let you in.",
        }
        assert await clinician_socket.nothing()
        assert not await db(ChatMessage.objects.exists)()

        # Let in, the same message goes through.
        await db(room_admit)(appointment=ana, user=clinician.user, now=timezone.now())
        await client.frame_of("admitted")
        await clinician_socket.frame_of("admitted")
        await client.send({"type": "chat", "body": "Hello"})
        assert (await clinician_socket.frame_of("chat"))["body"] == "Hello"
        await client.close()
        await clinician_socket.close()

    run(scenario)
    assert list(ChatMessage.objects.values_list("body", flat=True)) == ["Hello"]


def test_a_connected_peer_connection_is_recorded_once(soon, clinician, client_record) -> None:
    ana, _ = soon
    room_admit(appointment=ana, user=clinician.user, now=timezone.now())
    [key] = keys(client_record.user)

    async def scenario() -> None:
        client, _ = await joined(ana, key)
        for state in ("connecting", "connected", "connected", "disconnected", "connected"):
            await client.send({"type": "state", "connection": state})
        await asyncio.sleep(0.3)
        await client.close()

    run(scenario)
    assert RoomEvent.objects.filter(appointment=ana, kind="connected").count() == 2


def test_the_clinician_ends_the_session_for_both(soon, clinician, client_record) -> None:
    ana, _ = soon
    room_admit(appointment=ana, user=clinician.user, now=timezone.now())
    client_key, clinician_key = keys(client_record.user, clinician.user)

    async def scenario() -> None:
        client, _ = await joined(ana, client_key)
        clinician_socket, _ = await joined(ana, clinician_key)

        await clinician_socket.send({"type": "bye", "end": True})

        assert await client.frame_of("ended") == {"type": "ended"}
        assert await client.closed_with() == 4000
        assert await clinician_socket.frame_of("ended") == {"type": "ended"}
        assert await clinician_socket.closed_with() == 4000
        # The room stays shut.
        again = Socket(ana, client_key)
        assert await again.open()
        assert await again.closed_with() == 4408

    run(scenario)
    ana.refresh_from_db()
    assert ana.status == AppointmentStatus.COMPLETED
    assert ana.ended_at is not None
    assert RoomEvent.objects.filter(appointment=ana, kind="ended", role="clinician").exists()


def test_the_clinician_cannot_end_a_session_before_the_client_had_time_to_come(
    soon, clinician, client_record
) -> None:
    ana, _ = soon  # starts in five minutes; Ana is not there yet
    client_key, clinician_key = keys(client_record.user, clinician.user)

    async def scenario() -> None:
        clinician_socket, _ = await joined(ana, clinician_key)
        await clinician_socket.send({"type": "bye", "end": True})
        error = await clinician_socket.frame_of("error")
        assert error["code"] == "not_allowed"
        assert "Ana Silva has until then to arrive" in error["message"]
        # The room is still open: Ana can still come in.
        client_socket, welcome = await joined(ana, client_key)
        assert welcome["role"] == "client"
        await client_socket.close()
        await clinician_socket.close()

    run(scenario)
    ana.refresh_from_db()
    assert ana.status == AppointmentStatus.CONFIRMED
    assert ana.ended_at is None
    assert not RoomEvent.objects.filter(appointment=ana, kind="ended").exists()


def test_a_client_saying_bye_only_tells_the_clinician(soon, clinician, client_record) -> None:
    ana, _ = soon
    room_admit(appointment=ana, user=clinician.user, now=timezone.now())
    client_key, clinician_key = keys(client_record.user, clinician.user)

    async def scenario() -> None:
        client, _ = await joined(ana, client_key)
        clinician_socket, _ = await joined(ana, clinician_key)
        await client.send({"type": "bye"})
        assert await clinician_socket.frame_of("bye") == {"type": "bye", "from": "client"}
        await client.close()
        await clinician_socket.close()

    run(scenario)
    assert Appointment.objects.get(pk=ana.pk).status == AppointmentStatus.IN_PROGRESS


def test_no_seat_is_left_behind(soon, clinician, client_record) -> None:
    ana, _ = soon
    client_key, clinician_key = keys(client_record.user, clinician.user)

    async def scenario() -> None:
        client, _ = await joined(ana, client_key)
        clinician_socket, _ = await joined(ana, clinician_key)
        assert await db(RoomConnection.objects.filter(appointment=ana).count)() == 2
        await client.close()
        await clinician_socket.close()

    run(scenario)
    assert not RoomConnection.objects.exists()


# --- The clinician's live feed --------------------------------------------------------------------


def test_the_clinicians_feed_shows_a_client_waiting_live(soon, clinician, client_record) -> None:
    ana, _ = soon
    client_key, clinician_key = keys(client_record.user, clinician.user)

    async def scenario() -> None:
        feed = WebsocketCommunicator(
            application,
            "/ws/clinic/feed/",
            headers=[
                (b"origin", ORIGIN.encode()),
                (b"cookie", f"sessionid={clinician_key}".encode()),
            ],
        )
        assert (await feed.connect())[0]

        client, _ = await joined(ana, client_key)
        waiting = json.loads(await feed.receive_from(3))
        await client.close()
        back = json.loads(await feed.receive_from(3))

        assert waiting == {
            "type": "appointment",
            "appointment": str(ana.uuid),
            "status": "waiting",
            "status_label": "Client waiting",
            "client": "Ana Silva",
        }
        assert back["status"] == "confirmed"
        await feed.disconnect()

    run(scenario)


def test_the_feed_is_only_for_clinicians(soon, client_record, other_clinician) -> None:
    client_key, sam_key = keys(client_record.user, other_clinician.user)
    ana, _ = soon

    async def scenario() -> None:
        for key, code in ((None, 4401), (client_key, 4403)):
            headers = [(b"origin", ORIGIN.encode())]
            if key:
                headers.append((b"cookie", f"sessionid={key}".encode()))
            feed = WebsocketCommunicator(application, "/ws/clinic/feed/", headers=headers)
            assert (await feed.connect())[0]
            assert (await feed.receive_output(3))["code"] == code
        # Sam's feed hears nothing of Maya's client.
        sam_feed = WebsocketCommunicator(
            application,
            "/ws/clinic/feed/",
            headers=[(b"origin", ORIGIN.encode()), (b"cookie", f"sessionid={sam_key}".encode())],
        )
        assert (await sam_feed.connect())[0]
        client, _ = await joined(ana, client_key)
        assert await sam_feed.receive_nothing(0.5)
        await client.close()
        await sam_feed.disconnect()

    run(scenario)


# --- Chat receipts and the page's heartbeat ------------------------------------------------------


def test_a_chat_resent_with_its_id_is_kept_once_and_gets_the_same_receipt(
    soon, clinician, client_record
) -> None:
    """A page resends a message it has no receipt for after its socket comes back; the first
    copy may already be kept (the receipt was lost on a silent connection)."""
    ana, _ = soon
    room_admit(appointment=ana, user=clinician.user, now=timezone.now())
    client_key, clinician_key = keys(client_record.user, clinician.user)
    message_id = "0b7e9c4e-5f0c-4a43-9a55-3f2f0c1d2e3f"

    async def scenario() -> None:
        client, clinician_socket = await both_in_the_room(ana, client_key, clinician_key)
        await client.send({"type": "chat", "body": "My knee hurts", "id": message_id})
        receipt = await client.frame_of("chat")
        assert receipt["clientId"] == message_id
        relayed = await clinician_socket.frame_of("chat")
        assert relayed["id"] == receipt["id"]

        await client.send({"type": "chat", "body": "My knee hurts", "id": message_id})
        assert await client.frame_of("chat") == receipt
        # Relayed again (the other side may have missed the first): its page shows one.
        assert (await clinician_socket.frame_of("chat"))["id"] == receipt["id"]

        await client.send({"type": "chat", "body": "x", "id": "not-a-uuid"})
        error = await client.frame_of("error")
        assert (error["code"], error["id"]) == ("bad_field", "not-a-uuid")
        await client.close()
        await clinician_socket.close()

    run(scenario)
    assert list(ChatMessage.objects.values_list("body", "client_id")) == [
        ("My knee hurts", uuid.UUID(message_id))
    ]


def test_what_a_person_does_is_acknowledged_by_its_id(soon, clinician, client_record) -> None:
    """Mute, camera and ending the session carry an id and get a receipt; the other side
    gets the state without it."""
    ana, _ = soon
    room_admit(appointment=ana, user=clinician.user, now=timezone.now())
    client_key, clinician_key = keys(client_record.user, clinician.user)
    muted, ended = "1d7e9c4e-5f0c-4a43-9a55-3f2f0c1d2e3f", "2d7e9c4e-5f0c-4a43-9a55-3f2f0c1d2e3f"

    async def scenario() -> None:
        client, clinician_socket = await both_in_the_room(ana, client_key, clinician_key)
        await client.send({"type": "state", "audio": False, "id": muted})
        assert await client.frame_of("ack") == {"type": "ack", "id": muted}
        assert await clinician_socket.frame_of("state") == {
            "type": "state",
            "audio": False,
            "from": "client",
        }
        await client.send({"type": "bye", "end": True, "id": ended})
        refused = await client.frame_of("error")
        assert (refused["code"], refused["id"]) == ("not_allowed", ended)
        await clinician_socket.send({"type": "bye", "end": True, "id": ended})
        assert await clinician_socket.frame_of("ack") == {"type": "ack", "id": ended}
        assert await clinician_socket.closed_with() == 4000

    run(scenario)


def test_the_page_pings_and_a_reconnecting_page_gets_the_messages_it_missed(
    soon, clinician, client_record
) -> None:
    ana, _ = soon
    room_admit(appointment=ana, user=clinician.user, now=timezone.now())
    client_key, clinician_key = keys(client_record.user, clinician.user)

    async def scenario() -> None:
        client, clinician_socket = await both_in_the_room(ana, client_key, clinician_key)
        await client.send({"type": "ping"})
        assert await client.frame_of("pong") == {"type": "pong"}
        await client.close()
        await clinician_socket.frame_of("peer")  # left
        await clinician_socket.send({"type": "chat", "body": "Are you there?"})
        await clinician_socket.frame_of("chat")

        again = Socket(ana, client_key)
        assert await again.open()
        assert (await again.frame())["type"] == "welcome"
        missed = await again.frame_of("chat")
        assert (missed["body"], missed["history"], missed["from"]) == (
            "Are you there?",
            True,
            "clinician",
        )
        await again.close()
        await clinician_socket.close()

    run(scenario)
