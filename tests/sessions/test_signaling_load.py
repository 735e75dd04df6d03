"""Many rooms negotiating at once in one server process, on the real Redis channel layer.

Every socket of a process shares its channel layer: one Redis connection pool and one queue of
waiting messages. Two settings once made a burst lose frames (docs/benchmarks.md,
"Signaling"): redis-py 8's pool of 100 connections, which killed consumers with "Too many
connections" when more than 100 layer operations were in flight, and a capacity of 300 waiting
messages per process, past which frames were dropped without a word.
"""

import asyncio
import datetime as dt

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from sessions.models import AppointmentStatus
from tests import factories
from tests.conftest import session_key_for
from tests.sessions.test_room_consumer import Socket, joined

pytestmark = pytest.mark.django_db(transaction=True)

ROOMS = 120  # 240 sockets: more layer operations at once than 100 connections
CANDIDATES = 20  # per side, as trickle ICE sends them


def candidate(room: int, number: int) -> dict:
    return {
        "candidate": f"candidate:{room}{number:03d} 1 udp 2122260223 192.0.2.{number} "
        f"{50000 + number} typ host generation 0 ufrag abcd network-id 1",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
        "usernameFragment": "abcd",
    }


def test_a_burst_from_many_rooms_reaches_every_peer() -> None:
    service = factories.make_service()
    starts_at = timezone.now().replace(microsecond=0) + dt.timedelta(minutes=5)
    rooms = []
    for _ in range(ROOMS):
        clinician = factories.make_clinician(hours=None)
        client = factories.make_client()
        appointment = factories.make_appointment(
            service=service,
            clinician=clinician,
            client=client,
            starts_at=starts_at,
            status=AppointmentStatus.IN_PROGRESS,
        )
        appointment.admitted_at = timezone.now()
        appointment.save(update_fields=["admitted_at"])
        rooms.append((appointment, session_key_for(clinician.user), session_key_for(client.user)))

    async def scenario() -> None:
        pairs: list[tuple[Socket, Socket]] = []
        for appointment, clinician_key, client_key in rooms:
            clinician_socket, _ = await joined(appointment, clinician_key)
            client_socket, _ = await joined(appointment, client_key)
            pairs.append((clinician_socket, client_socket))

        async def negotiate(room: int, clinician_socket: Socket, client_socket: Socket) -> None:
            for number in range(CANDIDATES):
                await clinician_socket.send(
                    {"type": "candidate", "candidate": candidate(room, number)}
                )
            received = []
            while len(received) < CANDIDATES:
                frame = await client_socket.frame_of("candidate", timeout=20)
                received.append(frame["candidate"])
            assert received == [candidate(room, number) for number in range(CANDIDATES)]

        # Every room at once: more layer operations in flight than the old pool allowed.
        await asyncio.gather(*(negotiate(room, *pair) for room, pair in enumerate(pairs)))
        # Nobody was cut off: every socket still relays.
        for clinician_socket, client_socket in pairs:
            await client_socket.send({"type": "state", "audio": False})
            assert (await clinician_socket.frame_of("state", timeout=10))["audio"] is False
        for clinician_socket, client_socket in pairs:
            await client_socket.close()
            await clinician_socket.close()

    async_to_sync(scenario)()
