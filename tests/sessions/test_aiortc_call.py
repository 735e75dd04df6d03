"""A real WebRTC call through the real signaling server.

Two aiortc peers, Maya (clinician) and Ana (client), join the room of an appointment that
starts in five minutes over WebSockets to daphne (tests.webrtc_peer plays the part of the
room page). Maya lets Ana in through the admit URL, as her page does; then they negotiate
offer/answer/ICE through the signaling server, send each other video and leave.

The peers use no ICE servers, so the call runs over this machine's own host candidates. aiortc
does not offer loopback candidates, so the machine needs a non-loopback network interface.
"""

import asyncio
import datetime as dt
import http.cookies
import json
import re
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aioice.ice import get_host_addresses
from django.utils import timezone

from sessions.models import Appointment, AppointmentStatus, RoomConnection, RoomEvent
from tests import factories
from tests.asgi_server import AsgiServer
from tests.conftest import session_key_for
from tests.webrtc_peer import CHROMA, HEIGHT, WIDTH, RoomPeer

# At 30 frames a second, a second of video each way.
FRAMES_WANTED = 30
# Generous for a loaded machine; on a quiet one the whole call takes about two seconds.
STEP_TIMEOUT = 15
VIDEO_TIMEOUT = 30
# Lossy coding moves a flat colour by a few steps at most.
CHROMA_TOLERANCE = 12


@dataclass(frozen=True)
class Participant:
    role: str
    session_key: str
    page: str


@dataclass
class Call:
    """What happened on the wire, for the checks after the event loop has ended."""

    clinician: RoomPeer
    client: RoomPeer
    timings: dict[str, float]


def http_request(
    url: str, *, cookies: dict[str, str], method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], str]:
    cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
    request = urllib.request.Request(  # noqa: S310 - the test server's own http:// address
        url, method=method, headers={"Cookie": cookie, **(headers or {})}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        cookies = http.cookies.SimpleCookie()
        for header in response.headers.get_all("Set-Cookie") or []:
            cookies.load(header)
        return (
            response.status,
            {name: morsel.value for name, morsel in cookies.items()},
            response.read().decode(),
        )


def admit_form_token(
    server: AsgiServer, appointment: Appointment, session_key: str
) -> tuple[str, str]:
    """The clinician's room page: its CSRF cookie and the admit form's token."""
    status, cookies, page = http_request(
        f"{server.url}/appointments/{appointment.uuid}/join/", cookies={"sessionid": session_key}
    )
    assert status == 200
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert match, "the room page has no admit form"
    assert "csrftoken" in cookies, cookies
    return cookies["csrftoken"], match.group(1)


def admit(
    server: AsgiServer, appointment: Appointment, session_key: str, csrf: tuple[str, str]
) -> Any:
    """What the admit button does: a fetch() POST with the form's token, asking for JSON."""
    cookie, token = csrf
    status, _, body = http_request(
        f"{server.url}/appointments/{appointment.uuid}/room/admit/",
        cookies={"sessionid": session_key, "csrftoken": cookie},
        method="POST",
        headers={"Accept": "application/json", "X-CSRFToken": token, "Origin": server.url},
    )
    assert status == 200, body
    return json.loads(body)


async def both(
    peers: tuple[RoomPeer, RoomPeer], what: str, predicate: Callable[[RoomPeer], bool]
) -> None:
    await asyncio.gather(
        *(peer.until(what, lambda peer=peer: predicate(peer), STEP_TIMEOUT) for peer in peers)
    )


async def call(
    server: AsgiServer,
    appointment: Appointment,
    clinician_side: Participant,
    client_side: Participant,
    admit_now: Callable[[], Any],
) -> Call:
    timings: dict[str, float] = {}
    loop = asyncio.get_running_loop()
    started = loop.time()

    def mark(name: str) -> None:
        timings[name] = round(loop.time() - started, 3)

    def peer(me: Participant, them: Participant) -> RoomPeer:
        room_peer = RoomPeer(
            role=me.role,
            base_url=server.url,
            appointment=str(appointment.uuid),
            session_key=me.session_key,
            page=me.page,
        )
        room_peer.peer_page = them.page
        return room_peer

    clinician = peer(clinician_side, client_side)
    client = peer(client_side, clinician_side)
    try:
        await talk(clinician, client, admit_now, mark)
    except BaseException:
        # Close what is still open, so the failure is reported rather than what is left.
        await asyncio.gather(clinician.abort(), client.abort())
        raise

    # Nothing of aiortc (or of the sockets) may still be running.
    current = asyncio.current_task()
    deadline = loop.time() + 5
    while True:
        leftovers = [task for task in asyncio.all_tasks() if task is not current]
        if not leftovers or loop.time() > deadline:
            break
        await asyncio.sleep(0.05)
    assert not leftovers, "\n".join(repr(task) for task in leftovers)
    return Call(clinician=clinician, client=client, timings=timings)


async def talk(
    clinician: RoomPeer,
    client: RoomPeer,
    admit_now: Callable[[], Any],
    mark: Callable[[str], None],
) -> None:
    """The call as the two pages make it, from joining to leaving."""
    pair = (clinician, client)

    # Maya opens the room first; Ana comes in and waits.
    await clinician.connect()
    await client.connect()
    mark("both welcomed")
    await both(pair, "peer frame", lambda p: p.peer_present)
    assert [f["state"] for f in clinician.frames if f["type"] == "peer"] == ["joined"]
    assert [f["state"] for f in client.frames if f["type"] == "peer"] == ["present"]
    assert not clinician.admitted
    assert not client.admitted

    # Maya lets her in; both pages hear it and the call starts.
    assert await asyncio.to_thread(admit_now) == {"admitted": True}
    mark("admit answered")
    await both(pair, "admitted frame", lambda p: p.admitted)
    mark("both admitted")

    await both(pair, "description", lambda p: len(p.descriptions) == 1)
    assert clinician.descriptions == ["answer"]
    assert client.descriptions == ["offer"]
    await both(pair, "end of candidates", lambda p: p.end_of_candidates == 1)
    mark("offer, answer and candidates relayed")
    await both(pair, "connected peer connection", lambda p: "connected" in p.connection_states)
    mark("both connected")
    await both(pair, "peer's connected state frame", lambda p: "connected" in p.peer_states)

    await asyncio.gather(
        *(
            p.until(
                f"{FRAMES_WANTED} video frames",
                lambda p=p: p.video.frames >= FRAMES_WANTED,
                VIDEO_TIMEOUT,
            )
            for p in pair
        )
    )
    mark(f"{FRAMES_WANTED} frames each way")

    # Ana leaves; Maya's page hears the bye and that she left, then Maya leaves too.
    await client.leave()
    await clinician.until(
        "bye and peer left", lambda: clinician.bye and clinician.peer_left, STEP_TIMEOUT
    )
    await clinician.leave()
    mark("both left")
    for p in pair:
        p.check()


def test_two_aiortc_peers_call_through_the_signaling_server(asgi_server: AsgiServer) -> None:
    if not get_host_addresses(use_ipv4=True, use_ipv6=True):
        pytest.fail(
            "This machine has no non-loopback network interface: aiortc gathers no ICE "
            "candidates on loopback, so two peers here cannot connect."
        )
    maya = factories.make_clinician(email="maya@clinic.example", full_name="Maya Okafor")
    ana = factories.make_client(email="ana@example.org", full_name="Ana Silva")
    service = factories.make_service(maya)
    appointment = factories.make_appointment(
        service=service,
        clinician=maya,
        client=ana,
        starts_at=timezone.now().replace(microsecond=0) + dt.timedelta(minutes=5),
    )
    clinician_side = Participant("clinician", session_key_for(maya.user), f"maya-{uuid.uuid4()}")
    client_side = Participant("client", session_key_for(ana.user), f"ana-{uuid.uuid4()}")
    csrf = admit_form_token(asgi_server, appointment, clinician_side.session_key)

    started = time.monotonic()
    result = asyncio.run(
        call(
            asgi_server,
            appointment,
            clinician_side,
            client_side,
            lambda: admit(asgi_server, appointment, clinician_side.session_key, csrf),
        )
    )
    print(f"call took {time.monotonic() - started:.2f}s: {result.timings}")

    for me, them in ((result.clinician, result.client), (result.client, result.clinician)):
        # Candidates went through the socket, unchanged and host-only, then the end of them.
        assert me.sent_candidates, f"{me.role} had no host candidates to send"
        assert me.candidates == them.sent_candidates
        assert all(" typ host" in c["candidate"] for c in me.candidates), me.candidates
        # The other side's video, decoded, at the size it was sent, in its colour, moving.
        video = me.video
        assert video.frames >= FRAMES_WANTED
        assert video.sizes == {(WIDTH, HEIGHT)}
        u, v = CHROMA[them.role]
        assert all(
            abs(got_u - u) <= CHROMA_TOLERANCE and abs(got_v - v) <= CHROMA_TOLERANCE
            for got_u, got_v in video.chroma
        ), (them.role, video.chroma)
        positions = [x for x in video.bar_positions if x is not None]
        assert len(positions) >= FRAMES_WANTED * 0.9, video.bar_positions
        assert len(set(positions)) >= FRAMES_WANTED // 2, video.bar_positions
        # The page's path through the states, ending closed.
        assert "connected" in me.connection_states
        assert me.connection_states[-1] == "closed", me.connection_states
        assert me.ws is not None
        assert me.ws.close_code == 1000

    # The room's record: both joined, Ana was admitted, both connected, both left.
    expected = [
        ("joined", "clinician"),
        ("joined", "client"),
        ("admitted", "clinician"),
        ("connected", "clinician"),
        ("connected", "client"),
        ("left", "client"),
        ("left", "clinician"),
    ]
    deadline = time.monotonic() + STEP_TIMEOUT
    while True:
        # The server records a leave after the socket has closed: wait for it.
        events = sorted(
            RoomEvent.objects.filter(appointment=appointment).values_list("kind", "role")
        )
        if events == sorted(expected) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert events == sorted(expected)
    kinds = list(RoomEvent.objects.filter(appointment=appointment).values_list("kind", "role"))
    assert kinds[:3] == expected[:3]
    assert kinds[-1] == ("left", "clinician")
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.IN_PROGRESS
    assert appointment.admitted_at is not None
    assert not RoomConnection.objects.filter(appointment=appointment).exists()
