"""Signaling benchmark: 200 rooms (400 WebSockets) through daphne and channels-redis on Redis.

Run from the checkout:

    .venv/bin/python bench/signaling.py           # full run: 200 rooms, 7 rounds
    .venv/bin/python bench/signaling.py --quick   # smoke run: 50 rooms, 2 rounds

It starts the real ASGI server (daphne, as tests/asgi_server.py does) in a subprocess, on its
own PostgreSQL database (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/
telehealth_bench_signaling, dropped, recreated and migrated at the start; the script refuses a
name without "bench") and on Redis database 12 (REDIS_URL, emptied with FLUSHDB at the start and
the end; the script refuses any other database number). The load generator is this process:
one asyncio loop with a `websockets` client per participant, on the same machine as the server.
See docs/benchmarks.md for what is measured and how to read the figures.
"""

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import json
import math
import os
import platform
import re
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import (  # noqa: E402
    check_services_are_ours,
    code_version,
    cpu_model,
    database_name,
    database_url_for_server,
    flush_redis,
    load_average,
    memory_total,
    mib,
    package_versions,
    percentile,
    recreate_database,
    redis_info,
    scalar,
    set_up_django,
    table,
)

REDIS_DB = 12
set_up_django(
    {
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/telehealth_bench_signaling",
        "REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
        "CHANNELS_PREFIX": "telehealth-bench",
        "CACHE_PREFIX": "telehealth-bench",
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "TELEHEALTH_VAR_DIR": str(Path(tempfile.gettempdir()) / "telehealth-bench-signaling"),
    }
)

import django  # noqa: E402
import psutil  # noqa: E402
import redis  # noqa: E402
import redis.asyncio  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.contrib.sessions.models import Session  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from django.utils.crypto import get_random_string  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

from clinic.models import Client, Clinician, Profession, Role, User  # noqa: E402
from sessions.models import Appointment, AppointmentStatus, RoomConnection, Service  # noqa: E402
from telehealth.sockets import TokenBucket  # noqa: E402
from tests.asgi_server import AsgiServer  # noqa: E402

ZONE_NAME = "Europe/London"
ROLES = ("clinician", "client")
CANDIDATES_PER_SIDE = 20
FRAMES_PER_SIDE = 1 + CANDIDATES_PER_SIDE  # the offer or answer, then the candidates
SEQUENTIAL_ROOMS = 20  # connected one socket at a time before the concurrent rest
# Seconds between measurements: refills 20 tokens of each socket's bucket. The pauses are kept
# short so that the server never goes 5 s without a message while measuring (see finding 2).
PAUSE = 1.0
TIMEOUT = 30.0  # seconds to wait for a connection to open and greet
# A frame still missing after this long with nothing else arriving counts as lost. Shorter than
# channels-redis's 5 s BZPOPMIN, so that waiting for lost frames leaves the server no idle time.
QUIET = 2.0
MEDIA_TYPES = {"offer", "answer", "candidate"}
PUBLISHERS = 50  # Redis connections the pub/sub floor publishes on
SDP_ID = re.compile(r"^o=- (\d+) ", re.MULTILINE)


# --- Helpers ---------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def machine_description() -> list[str]:
    versions = package_versions(
        ("channels", "channels-redis", "daphne", "Twisted", "websockets", "redis")
    )
    return [
        f"CPU: {cpu_model()} x {os.cpu_count()} (os.cpu_count); RAM {memory_total()}; "
        f"load average now {load_average()}",
        f"PostgreSQL: {scalar('SHOW server_version')}; Redis {redis_info()['redis_version']}",
        f"Python {platform.python_version()}, Django {django.get_version()}, {versions}",
        f"Database: {database_name()} on {settings.DATABASES['default']['HOST']}; "
        f"Redis: {settings.REDIS_URL}",
    ]


# --- Data ------------------------------------------------------------------------------------


@dataclass
class RoomData:
    uuid: uuid.UUID
    session_keys: dict[str, str]  # role -> session key of its user


def make_users(role: Role, prefix: str, count: int) -> list[User]:
    password = make_password(None)  # unusable, and cheap to share
    return User.objects.bulk_create(
        User(
            email=f"{prefix}{number}@bench.example.org",
            full_name=f"{prefix.title()} {number}",
            role=role,
            time_zone=ZONE_NAME,
            password=password,
        )
        for number in range(count)
    )


def make_sessions(users: list[User]) -> list[str]:
    """Signed-in sessions, as tests/conftest.py's session_key_for makes them, in one INSERT."""
    store = SessionStore()
    expires = timezone.now() + dt.timedelta(seconds=settings.SESSION_COOKIE_AGE)
    rows = []
    for user in users:
        data = {
            SESSION_KEY: str(user.pk),
            BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
            HASH_SESSION_KEY: user.get_session_auth_hash(),
        }
        key = get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789")
        rows.append(Session(session_key=key, session_data=store.encode(data), expire_date=expires))
    Session.objects.bulk_create(rows)
    return [row.session_key for row in rows]


def make_rooms(count: int) -> list[RoomData]:
    """``count`` appointments starting in 5 minutes (room open), each with its own clinician
    and client, the client already admitted."""
    clinician_users = make_users(Role.CLINICIAN, "clinician", count)
    clinicians = Clinician.objects.bulk_create(
        Clinician(user=user, profession=Profession.PHYSIOTHERAPIST) for user in clinician_users
    )
    client_users = make_users(Role.CLIENT, "client", count)
    clients = Client.objects.bulk_create(Client(user=user) for user in client_users)
    service = Service.objects.create(
        name="Virtual assessment", duration_minutes=45, buffer_after_minutes=15
    )
    service.clinicians.add(*clinicians)
    now = timezone.now()
    starts_at = now.replace(microsecond=0) + dt.timedelta(minutes=5)
    appointments = Appointment.objects.bulk_create(
        Appointment(
            service=service,
            clinician=clinician,
            client=client,
            **service.appointment_times(starts_at),
            status=AppointmentStatus.IN_PROGRESS,
            admitted_at=now,
        )
        for clinician, client in zip(clinicians, clients, strict=True)
    )
    clinician_keys = make_sessions(clinician_users)
    client_keys = make_sessions(client_users)
    return [
        RoomData(
            uuid=appointment.uuid,
            session_keys={"clinician": clinician_key, "client": client_key},
        )
        for appointment, clinician_key, client_key in zip(
            appointments, clinician_keys, client_keys, strict=True
        )
    ]


# --- Frames ----------------------------------------------------------------------------------

FINGERPRINT = ":".join(f"{(n * 37) % 256:02X}" for n in range(32))
AUDIO_EXTENSIONS = [
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
    "urn:ietf:params:rtp-hdrext:sdes:mid",
]
VIDEO_EXTENSIONS = [
    "urn:ietf:params:rtp-hdrext:toffset",
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "urn:3gpp:video-orientation",
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
    "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
    "http://www.webrtc.org/experiments/rtp-hdrext/video-content-type",
    "http://www.webrtc.org/experiments/rtp-hdrext/video-timing",
    "http://www.webrtc.org/experiments/rtp-hdrext/color-space",
    "urn:ietf:params:rtp-hdrext:sdes:mid",
    "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
    "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
]
# (payload type, codec, fmtp, rtx payload type) as Chrome offers them; the answer keeps fewer.
VIDEO_CODECS = [
    (96, "VP8/90000", "", 97),
    (98, "VP9/90000", "profile-id=0", 99),
    (100, "VP9/90000", "profile-id=2", 101),
    (
        102,
        "H264/90000",
        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
        103,
    ),
    (
        104,
        "H264/90000",
        "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f",
        105,
    ),
    (
        106,
        "H264/90000",
        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
        107,
    ),
    (
        108,
        "H264/90000",
        "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f",
        109,
    ),
    (
        127,
        "H264/90000",
        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f",
        125,
    ),
    (
        39,
        "H264/90000",
        "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=4d001f",
        40,
    ),
    (45, "AV1/90000", "level-idx=5;profile=0;tier=0", 46),
    (
        112,
        "H264/90000",
        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f",
        113,
    ),
]
ANSWER_VIDEO_CODECS = 6
CANDIDATES = [
    "candidate:{id} 1 udp 2122260223 192.168.1.23 {port} typ host generation 0 ufrag {ufrag} "
    "network-id 1 network-cost 10",
    "candidate:{id} 1 tcp 1518280447 192.168.1.23 9 typ host tcptype active generation 0 "
    "ufrag {ufrag} network-id 1 network-cost 10",
    "candidate:{id} 1 udp 1686052607 203.0.113.45 {port} typ srflx raddr 192.168.1.23 rport "
    "{port} generation 0 ufrag {ufrag} network-id 1 network-cost 10",
    "candidate:{id} 1 udp 41885439 198.51.100.7 {port} typ relay raddr 203.0.113.45 rport {port} "
    "generation 0 ufrag {ufrag} network-id 1 network-cost 10",
]


def sdp_text(frame_id: int, *, answer: bool) -> str:
    """A Chrome-like audio+video session description; ``frame_id`` is its session id."""
    ufrag = f"{frame_id % 10000:04d}"
    lines = [
        "v=0",
        f"o=- {frame_id} 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1",
        "a=extmap-allow-mixed",
        "a=msid-semantic: WMS bench-stream",
    ]
    transport = [
        "c=IN IP4 0.0.0.0",
        "a=rtcp:9 IN IP4 0.0.0.0",
        f"a=ice-ufrag:{ufrag}",
        "a=ice-pwd:asd88fgpdd777uzjYhagZg0ff5rL4V2q",
        "a=ice-options:trickle",
        f"a=fingerprint:sha-256 {FINGERPRINT}",
        f"a=setup:{'active' if answer else 'actpass'}",
    ]
    lines += ["m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126", *transport, "a=mid:0"]
    lines += [f"a=extmap:{n} {uri}" for n, uri in enumerate(AUDIO_EXTENSIONS, start=1)]
    lines += [
        "a=sendrecv",
        "a=msid:bench-stream 0c3f3f4e-9b5e-4a0e-8d43-6ad1a8f1c0a1",
        "a=rtcp-mux",
        "a=rtcp-rsize",
        "a=rtpmap:111 opus/48000/2",
        "a=rtcp-fb:111 transport-cc",
        "a=fmtp:111 minptime=10;useinbandfec=1",
        "a=rtpmap:63 red/48000/2",
        "a=fmtp:63 111/111",
        "a=rtpmap:9 G722/8000",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:13 CN/8000",
        "a=rtpmap:110 telephone-event/48000",
        "a=rtpmap:126 telephone-event/8000",
        "a=ssrc:3870105462 cname:Yq1nNsBqf3uNWa8j",
        "a=ssrc:3870105462 msid:bench-stream 0c3f3f4e-9b5e-4a0e-8d43-6ad1a8f1c0a1",
    ]
    codecs = VIDEO_CODECS[:ANSWER_VIDEO_CODECS] if answer else VIDEO_CODECS
    types = [str(t) for pt, _, _, rtx in codecs for t in (pt, rtx)] + ["114", "115", "116"]
    lines += [f"m=video 9 UDP/TLS/RTP/SAVPF {' '.join(types)}", *transport, "a=mid:1"]
    lines += [f"a=extmap:{n} {uri}" for n, uri in enumerate(VIDEO_EXTENSIONS, start=2)]
    lines += [
        "a=sendrecv",
        "a=msid:bench-stream 6f1e5d2c-3b4a-4c8d-9e0f-1a2b3c4d5e6f",
        "a=rtcp-mux",
        "a=rtcp-rsize",
    ]
    for pt, codec, fmtp, rtx in codecs:
        lines.append(f"a=rtpmap:{pt} {codec}")
        lines += [
            f"a=rtcp-fb:{pt} {fb}"
            for fb in ("goog-remb", "transport-cc", "ccm fir", "nack", "nack pli")
        ]
        if fmtp:
            lines.append(f"a=fmtp:{pt} {fmtp}")
        lines += [f"a=rtpmap:{rtx} rtx/90000", f"a=fmtp:{rtx} apt={pt}"]
    lines += [
        "a=rtpmap:114 red/90000",
        "a=rtpmap:115 rtx/90000",
        "a=fmtp:115 apt=114",
        "a=rtpmap:116 ulpfec/90000",
        "a=ssrc-group:FID 2231627014 632943048",
        "a=ssrc:2231627014 cname:Yq1nNsBqf3uNWa8j",
        "a=ssrc:2231627014 msid:bench-stream 6f1e5d2c-3b4a-4c8d-9e0f-1a2b3c4d5e6f",
        "a=ssrc:632943048 cname:Yq1nNsBqf3uNWa8j",
        "a=ssrc:632943048 msid:bench-stream 6f1e5d2c-3b4a-4c8d-9e0f-1a2b3c4d5e6f",
    ]
    return "\r\n".join(lines) + "\r\n"


def sdp_frame(frame_id: int, *, answer: bool) -> str:
    kind = "answer" if answer else "offer"
    return json.dumps({"type": kind, "sdp": sdp_text(frame_id, answer=answer)})


def candidate_frame(frame_id: int, number: int) -> str:
    ufrag = f"{frame_id % 10000:04d}"
    text = CANDIDATES[number % len(CANDIDATES)].format(
        id=frame_id, port=50000 + number, ufrag=ufrag
    )
    candidate = {"candidate": text, "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": ufrag}
    return json.dumps({"type": "candidate", "candidate": candidate})


def frame_id_of(frame: dict[str, Any]) -> int | None:
    """The id the benchmark put in a relayed frame (SDP session id, candidate foundation)."""
    if frame.get("type") in ("offer", "answer"):
        match = SDP_ID.search(frame.get("sdp", ""))
        return int(match[1]) if match else None
    candidate = frame.get("candidate") or {}
    foundation = candidate.get("candidate", "").split(" ", 1)[0]
    digits = foundation.removeprefix("candidate:")
    return int(digits) if digits.isdigit() else None


# One id per frame sent in the whole run: ten digits, like Chrome's candidate foundations.
FRAME_IDS = itertools.count(1_000_000_000)


@dataclass
class Outgoing:
    frame_id: int
    size: str  # "sdp" or "candidate"
    text: str


def side_frames(*, answer: bool) -> list[Outgoing]:
    """What one side sends in an exchange: its description, then its candidates."""
    frames = [Outgoing(frame_id := next(FRAME_IDS), "sdp", sdp_frame(frame_id, answer=answer))]
    for number in range(CANDIDATES_PER_SIDE):
        frame_id = next(FRAME_IDS)
        frames.append(Outgoing(frame_id, "candidate", candidate_frame(frame_id, number)))
    return frames


# --- Measurements ----------------------------------------------------------------------------


class Measurement:
    """Frames sent and received in one measurement, matched by the id embedded in each."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.sent: dict[int, tuple[float, str, int]] = {}  # id -> (time, size, room)
        self.received: dict[int, float] = {}
        self.offers: dict[int, asyncio.Event] = {}  # room -> its offer reached the client
        self.offer_ids: set[int] = set()
        self.waiters: dict[int, asyncio.Future[float]] = {}
        self.done = asyncio.Event()
        self.settled = asyncio.Event()  # everything arrived, or nothing more is coming
        self.duplicates = 0
        self.unsent = 0  # frames not sent because the server had closed the socket
        self.last_arrival = time.perf_counter()

    def sending(self, frame: Outgoing, room: int, *, offer: bool = False) -> None:
        self.sent[frame.frame_id] = (time.perf_counter(), frame.size, room)
        if offer:
            self.offer_ids.add(frame.frame_id)

    def not_sent(self, frame: Outgoing) -> None:
        del self.sent[frame.frame_id]
        self.offer_ids.discard(frame.frame_id)
        self.unsent += 1

    async def settle(self) -> None:
        """Wait until every frame sent has arrived, or none has arrived for QUIET seconds."""
        while not self.done.is_set():
            if time.perf_counter() - self.last_arrival > QUIET:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.done.wait(), 0.1)
        self.settled.set()

    def arrived(self, frame_id: int, at: float) -> bool:
        if frame_id not in self.sent:
            return False
        if frame_id in self.received:
            self.duplicates += 1
            return True
        self.received[frame_id] = at
        self.last_arrival = at
        if frame_id in self.offer_ids:
            self.offers[self.sent[frame_id][2]].set()
        waiter = self.waiters.pop(frame_id, None)
        if waiter and not waiter.done():
            waiter.set_result(at)
        if len(self.received) >= self.expected:
            self.done.set()
        return True

    def latencies(self, size: str | None = None) -> list[float]:
        return [
            at - self.sent[frame_id][0]
            for frame_id, at in self.received.items()
            if size is None or self.sent[frame_id][1] == size
        ]

    @property
    def lost(self) -> int:
        return len(self.sent) - len(self.received)

    @property
    def wall(self) -> float:
        """First send to last receipt."""
        if not self.received:
            return float("nan")
        return max(self.received.values()) - min(sent for sent, _, _ in self.sent.values())


class Router:
    """Hands every relayed frame that arrives to the measurement in progress."""

    def __init__(self) -> None:
        self.current: Measurement | None = None
        self.stray = 0  # frames that belong to no measurement in progress (late or unknown)

    def arrived(self, frame: dict[str, Any], at: float) -> None:
        frame_id = frame_id_of(frame)
        if frame_id is None or self.current is None or not self.current.arrived(frame_id, at):
            self.stray += 1


@dataclass
class Participant:
    room: int
    room_uuid: uuid.UUID
    role: str
    session_key: str
    ws: ClientConnection | None = None
    reader: asyncio.Task[None] | None = None
    started: float = 0.0
    opened: float = 0.0
    welcomed: float = 0.0
    welcome: asyncio.Event = field(default_factory=asyncio.Event)
    peer: asyncio.Event = field(default_factory=asyncio.Event)
    errors: Counter[str] = field(default_factory=Counter)
    others: Counter[str] = field(default_factory=Counter)
    close_code: int | None = None
    # A copy of the server's token bucket for this connection, to see how close we came.
    bucket: TokenBucket | None = None
    fewest_tokens: float = math.inf


class WebSocketRelay:
    """Frames go through the signaling server: sent on one socket, read on the peer's."""

    name = "relay"

    def __init__(self, rooms: list[dict[str, Participant]]) -> None:
        self.rooms = rooms

    async def send(self, room: int, role: str, text: str) -> bool:
        participant = self.rooms[room][role]
        bucket = participant.bucket
        assert bucket is not None
        assert participant.ws is not None
        if participant.close_code is not None:
            return False
        bucket.take()
        participant.fewest_tokens = min(participant.fewest_tokens, bucket.tokens)
        try:
            await participant.ws.send(text)
        except ConnectionClosed:
            return False
        return True


class RedisPubSub:
    """The floor: the same frames through a bare Redis PUBLISH to a SUBSCRIBEd connection."""

    name = "pub/sub"

    def __init__(self, url: str, rooms: int, router: Router) -> None:
        # No client-side read timeout: the subscriber waits for messages as long as it takes.
        # Publishers queue for one of PUBLISHERS connections rather than fail when all are busy.
        self.publisher = redis.asyncio.Redis(
            connection_pool=redis.asyncio.BlockingConnectionPool.from_url(
                url, max_connections=PUBLISHERS, socket_timeout=None, timeout=None
            )
        )
        self.subscriber = redis.asyncio.Redis.from_url(url, socket_timeout=None)
        # Pub/sub channels are server-wide, not per database: a unique prefix keeps ours apart.
        self.prefix = f"telehealth-bench-signaling:{uuid.uuid4().hex}:"
        self.channels = [f"{self.prefix}{room}:{role}" for room in range(rooms) for role in ROLES]
        self.router = router
        self.listener: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.pubsub = self.subscriber.pubsub(ignore_subscribe_messages=True)
        await self.pubsub.subscribe(*self.channels)
        self.listener = asyncio.create_task(self._listen())

    async def _listen(self) -> None:
        async for message in self.pubsub.listen():
            at = time.perf_counter()
            if message["type"] == "message":
                self.router.arrived(json.loads(message["data"]), at)

    async def send(self, room: int, role: str, text: str) -> bool:
        peer = ROLES[1 - ROLES.index(role)]
        await self.publisher.publish(f"{self.prefix}{room}:{peer}", text)
        return True

    async def close(self) -> None:
        if self.listener:
            self.listener.cancel()
        await self.pubsub.aclose()
        await self.subscriber.aclose()
        await self.publisher.aclose()


class LoopLag:
    """How late this process's event loop wakes up a 5 ms sleep: load-generator delay."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.005)
            self.samples.append(time.perf_counter() - started - 0.005)

    def __enter__(self) -> "LoopLag":
        self.task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()


class CpuMeter:
    """CPU seconds used by daphne, Redis and this process over a measurement."""

    def __init__(self, server: psutil.Process, redis_server: psutil.Process | None) -> None:
        self.processes = {"daphne": server, "redis": redis_server}

    def read(self) -> dict[str, float]:
        used = {"load generator": time.process_time()}
        for name, process in self.processes.items():
            if process is None:
                continue
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            used[name] = times.user + times.system
        return used

    @staticmethod
    def difference(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {name: after[name] - before[name] for name in before if name in after}


async def exchange(
    transport: Any, rooms: int, router: Router, cpu: CpuMeter
) -> tuple[Measurement, dict[str, float], list[float]]:
    """Every room at once: the clinician sends an offer and its candidates; the client, once
    the offer has reached it, an answer and its candidates."""
    frames = [
        {"clinician": side_frames(answer=False), "client": side_frames(answer=True)}
        for _ in range(rooms)
    ]
    measurement = Measurement(expected=rooms * 2 * FRAMES_PER_SIDE)
    measurement.offers = {room: asyncio.Event() for room in range(rooms)}

    async def send(room: int, role: str, frame: Outgoing, *, offer: bool = False) -> None:
        measurement.sending(frame, room, offer=offer)
        if not await transport.send(room, role, frame.text):
            measurement.not_sent(frame)

    async def one_room(room: int) -> None:
        for number, frame in enumerate(frames[room]["clinician"]):
            await send(room, "clinician", frame, offer=number == 0)
        offer = asyncio.ensure_future(measurement.offers[room].wait())
        settled = asyncio.ensure_future(measurement.settled.wait())
        await asyncio.wait([offer, settled], return_when=asyncio.FIRST_COMPLETED)
        offer.cancel()
        settled.cancel()
        if not measurement.offers[room].is_set():
            return  # the offer was lost: this client never answers
        for frame in frames[room]["client"]:
            await send(room, "client", frame)

    router.current = measurement
    before = cpu.read()
    with LoopLag() as lag:
        measurement.last_arrival = time.perf_counter()
        tasks = [asyncio.create_task(one_room(room)) for room in range(rooms)]
        await measurement.settle()
        await asyncio.gather(*tasks)
    used = CpuMeter.difference(before, cpu.read())
    router.current = None
    return measurement, used, lag.samples


async def one_at_a_time(
    transport: Any, rooms: int, count: int, offset: int, router: Router
) -> Measurement:
    """``count`` frames, each sent only after the previous one arrived; sizes alternate between
    a description and a candidate, senders rotate over the rooms (one frame per socket)."""
    measurement = Measurement(expected=count)
    router.current = measurement
    loop = asyncio.get_running_loop()
    for number in range(count):
        room = (offset + number * 37) % rooms
        role = ROLES[number % 2]
        frame_id = next(FRAME_IDS)
        if (number // 2) % 2 == 0:
            frame = Outgoing(frame_id, "sdp", sdp_frame(frame_id, answer=role == "client"))
        else:
            frame = Outgoing(frame_id, "candidate", candidate_frame(frame_id, number))
        waiter: asyncio.Future[float] = loop.create_future()
        measurement.waiters[frame_id] = waiter
        measurement.sending(frame, room)
        if not await transport.send(room, role, frame.text):
            measurement.not_sent(frame)
            measurement.waiters.pop(frame_id)
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waiter, QUIET)
    router.current = None
    return measurement


# --- Connections -----------------------------------------------------------------------------


async def read_frames(participant: Participant, router: Router) -> None:
    assert participant.ws is not None
    try:
        async for text in participant.ws:
            at = time.perf_counter()
            frame = json.loads(text)
            kind = frame.get("type")
            if kind in MEDIA_TYPES:
                router.arrived(frame, at)
            elif kind == "welcome":
                participant.welcomed = at
                participant.welcome.set()
            elif kind == "peer":
                participant.peer.set()
                participant.others[f"peer {frame.get('state')}"] += 1
            elif kind == "error":
                participant.errors[frame.get("code", "?")] += 1
            else:
                participant.others[str(kind)] += 1
    except ConnectionClosed:
        pass
    finally:
        participant.close_code = participant.ws.close_code


async def open_socket(participant: Participant, url: str, origin: str, router: Router) -> None:
    room_url = f"{url}/ws/appointments/{participant.room_uuid}/room/?page=bench-{participant.room}"
    participant.started = time.perf_counter()
    participant.ws = await connect(
        room_url,
        origin=origin,
        additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={participant.session_key}"},
        proxy=None,
        ping_interval=None,  # browsers do not ping; daphne pings the client
        open_timeout=TIMEOUT,
        max_size=2**20,
    )
    participant.opened = time.perf_counter()
    participant.reader = asyncio.create_task(read_frames(participant, router))
    await asyncio.wait_for(participant.welcome.wait(), TIMEOUT)
    participant.bucket = TokenBucket(
        rate=settings.SIGNALING_MESSAGES_PER_SECOND, burst=settings.SIGNALING_BURST
    )
    participant.fewest_tokens = participant.bucket.tokens


def server_memory(process: psutil.Process) -> dict[str, int]:
    """RSS and USS of daphne (and any children it has)."""
    rss = uss = 0
    for member in [process, *process.children(recursive=True)]:
        info = member.memory_full_info()
        rss += info.rss
        uss += info.uss
    return {"rss": rss, "uss": uss}


def postgres_sessions() -> int:
    """Connections ever opened to the benchmark's database (pg_stat_database.sessions)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def seats_taken() -> int:
    return RoomConnection.objects.count()


async def in_thread(function: Callable[[], Any]) -> Any:
    """Django's ORM refuses to run inside the event loop: one worker thread does it."""
    from asgiref.sync import sync_to_async

    return await sync_to_async(function)()


@dataclass
class ConnectPhase:
    name: str
    participants: list[Participant]
    wall: float
    failures: list[str]

    def setups(self) -> list[float]:
        return [p.welcomed - p.started for p in self.participants if p.welcomed]

    def handshakes(self) -> list[float]:
        return [p.opened - p.started for p in self.participants if p.opened]


async def connect_phase(
    name: str,
    participants: list[Participant],
    url: str,
    origin: str,
    router: Router,
    concurrency: int,
) -> ConnectPhase:
    gate = asyncio.Semaphore(concurrency)
    failures: list[str] = []

    async def one(participant: Participant) -> None:
        async with gate:
            try:
                await open_socket(participant, url, origin, router)
            except Exception as error:
                failures.append(f"{type(error).__name__}: {error}"[:200])

    started = time.perf_counter()
    await asyncio.gather(*(one(participant) for participant in participants))
    return ConnectPhase(name, participants, time.perf_counter() - started, failures)


def report_connections(phases: list[ConnectPhase], sessions_per_socket: float) -> None:
    print()
    print("1. Connection setup: WebSocket handshake, then the server's 'welcome' frame")
    rows = []
    for phase in phases:
        setups, handshakes = phase.setups(), phase.handshakes()
        rows.append(
            [
                phase.name,
                str(len(phase.participants)),
                str(len(phase.failures)),
                f"{phase.wall:.2f}",
                f"{len(phase.participants) / phase.wall:.1f}",
                ms(statistics.median(handshakes)) if handshakes else "-",
                ms(statistics.median(setups)) if setups else "-",
                ms(percentile(setups, 0.99)) if setups else "-",
                ms(max(setups)) if setups else "-",
            ]
        )
    print(
        table(
            [
                "phase",
                "sockets",
                "failed",
                "wall s",
                "sockets/s",
                "handshake p50 ms",
                "welcome p50 ms",
                "welcome p99 ms",
                "max ms",
            ],
            rows,
        )
    )
    print(
        "   PostgreSQL connections opened by the server per socket connected: "
        f"{sessions_per_socket:.2f}"
    )
    for phase in phases:
        for failure, count in Counter(phase.failures).most_common(5):
            print(f"   {phase.name}: failed x{count}: {failure}")


def report_memory(memory: dict[str, dict[str, int]], sockets: int, sequential: int) -> None:
    print()
    print("2. daphne memory (RSS; USS = memory only this process uses)")
    rows = [[label, mib(values["rss"]), mib(values["uss"])] for label, values in memory.items()]
    print(table(["when", "RSS MiB", "USS MiB"], rows))
    idle = memory["all connected, idle"]
    before = memory["before any WebSocket"]
    after_first = memory[f"after the first {sequential} sockets"]
    print(
        f"   per socket: {(idle['rss'] - before['rss']) / sockets / 1024:.1f} KiB RSS "
        f"((all connected - before any) / {sockets}); "
        f"{(idle['rss'] - after_first['rss']) / (sockets - sequential) / 1024:.1f} KiB "
        f"((all connected - after the first {sequential}) / {sockets - sequential}, "
        "without first-use set-up)"
    )


@dataclass
class Round:
    relay: Measurement
    relay_cpu: dict[str, float]
    relay_lag: list[float]
    pubsub: Measurement
    pubsub_cpu: dict[str, float]
    pubsub_lag: list[float]
    relay_single: Measurement
    pubsub_single: Measurement


def exchange_row(number: int, m: Measurement, lag: list[float]) -> list[str]:
    latencies = m.latencies()
    return [
        str(number),
        str(len(m.sent)),
        str(len(m.received)),
        str(m.lost),
        f"{m.wall:.3f}",
        f"{len(m.received) / m.wall:.0f}",
        ms(statistics.median(latencies)) if latencies else "-",
        ms(percentile(latencies, 0.99)) if latencies else "-",
        ms(max(latencies)) if latencies else "-",
        ms(percentile(lag, 0.99)) if lag else "-",
    ]


def report_exchanges(rounds: list[Round], rooms: int) -> None:
    headers = [
        "round",
        "sent",
        "received",
        "lost",
        "wall s",
        "frames/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "loop lag p99 ms",
    ]
    print()
    print(
        f"3. Exchange: {rooms} rooms at once, each side 1 description + {CANDIDATES_PER_SIDE} "
        f"candidates ({rooms * 2 * FRAMES_PER_SIDE} frames per round)"
    )
    print("   a) through the signaling server (WebSocket -> daphne -> channels-redis -> WebSocket)")
    print(table(headers, [exchange_row(n, r.relay, r.relay_lag) for n, r in enumerate(rounds, 1)]))
    print("   b) floor: the same frames through bare Redis PUBLISH/SUBSCRIBE (redis-py asyncio)")
    print(
        table(headers, [exchange_row(n, r.pubsub, r.pubsub_lag) for n, r in enumerate(rounds, 1)])
    )

    def medians(pick: Callable[[Round], Measurement]) -> tuple[float, float, float, float]:
        return (
            statistics.median(statistics.median(pick(r).latencies()) for r in rounds),
            statistics.median(percentile(pick(r).latencies(), 0.99) for r in rounds),
            statistics.median(len(pick(r).received) / pick(r).wall for r in rounds),
            statistics.median(pick(r).wall for r in rounds),
        )

    relay = medians(lambda r: r.relay)
    floor = medians(lambda r: r.pubsub)
    print(
        f"   median over rounds, relay: p50 {ms(relay[0])} ms, p99 {ms(relay[1])} ms, "
        f"{relay[2]:.0f} frames/s (wall {relay[3]:.3f} s)"
    )
    print(
        f"   median over rounds, pub/sub: p50 {ms(floor[0])} ms, p99 {ms(floor[1])} ms, "
        f"{floor[2]:.0f} frames/s (wall {floor[3]:.3f} s)"
    )
    print(
        f"   ratio relay / pub/sub: p50 {relay[0] / floor[0]:.1f}x, "
        f"p99 {relay[1] / floor[1]:.1f}x, frames/s {relay[2] / floor[2]:.2f}x"
    )
    for size in ("sdp", "candidate"):
        relay_size = statistics.median(
            statistics.median(r.relay.latencies(size)) for r in rounds if r.relay.latencies(size)
        )
        floor_size = statistics.median(
            statistics.median(r.pubsub.latencies(size)) for r in rounds if r.pubsub.latencies(size)
        )
        print(
            f"   {size:>9} frames: relay p50 {ms(relay_size)} ms, pub/sub p50 {ms(floor_size)} ms "
            f"({relay_size / floor_size:.1f}x)"
        )
    for label, pick in (("relay", "relay_cpu"), ("pub/sub", "pubsub_cpu")):
        walls = sum((r.relay if label == "relay" else r.pubsub).wall for r in rounds)
        used = Counter()
        for r in rounds:
            used.update(getattr(r, pick))
        print(
            f"   CPU during the {label} exchanges (CPU s per wall s; 1.00 = one core): "
            + ", ".join(f"{name} {seconds / walls:.2f}" for name, seconds in sorted(used.items()))
        )


def report_singles(rounds: list[Round]) -> None:
    print()
    count = len(rounds[0].relay_single.sent)
    print(
        f"4. One frame at a time ({count} per round, each sent after the previous arrived; "
        "descriptions and candidates alternate; all sockets connected)"
    )
    rows = []
    for number, r in enumerate(rounds, 1):
        row = [str(number)]
        for m in (r.relay_single, r.pubsub_single):
            latencies = m.latencies()
            row += [
                str(m.lost),
                ms(statistics.median(m.latencies("sdp"))),
                ms(statistics.median(m.latencies("candidate"))),
                ms(statistics.median(latencies)),
                ms(percentile(latencies, 0.99)),
            ]
        rows.append(row)
    print(
        table(
            [
                "round",
                "relay lost",
                "relay sdp p50",
                "relay cand p50",
                "relay p50 ms",
                "relay p99 ms",
                "pub/sub lost",
                "pub/sub sdp p50",
                "pub/sub cand p50",
                "pub/sub p50 ms",
                "pub/sub p99 ms",
            ],
            rows,
        )
    )
    relay = statistics.median(statistics.median(r.relay_single.latencies()) for r in rounds)
    floor = statistics.median(statistics.median(r.pubsub_single.latencies()) for r in rounds)
    print(
        f"   median over rounds: relay p50 {ms(relay)} ms, pub/sub p50 {ms(floor)} ms; "
        f"ratio of medians relay / pub/sub: {relay / floor:.1f}x"
    )


def report_limits(participants: list[Participant], router: Router) -> None:
    print()
    print("5. Rate limit and errors")
    errors = Counter()
    others = Counter()
    for participant in participants:
        errors.update(participant.errors)
        others.update(participant.others)
    fewest = min(p.fewest_tokens for p in participants)
    print(
        f"   server limit: burst {settings.SIGNALING_BURST} frames, then "
        f"{settings.SIGNALING_MESSAGES_PER_SECOND}/s; each side sends {FRAMES_PER_SIDE} frames per "
        f"exchange and at most 2 more per round one at a time, {PAUSE:.0f} s between "
        "measurements"
    )
    print(
        f"   fewest tokens left in any socket's bucket (client-side copy): {fewest:.1f} of "
        f"{settings.SIGNALING_BURST}"
    )
    print(
        "   error frames from the server: "
        + (", ".join(f"{code} x{count}" for code, count in errors.most_common()) or "none")
    )
    print(
        "   other frames: "
        + ", ".join(f"{kind} x{count}" for kind, count in sorted(others.items()))
        + f"; stray relayed frames (late, duplicate or unknown): {router.stray}"
    )


def scan_server_log(log: str) -> Counter[str]:
    """What went wrong in daphne, by kind: warnings, errors, and messages the layer dropped."""
    found: Counter[str] = Counter()
    for line in log.splitlines():
        if "over capacity" in line:
            found["channels_redis: channel over capacity, message dropped"] += 1
        elif "took too long to shut down and was killed" in line:
            found["daphne: application instance took too long to shut down and was killed"] += 1
        elif "Exception inside application:" in line:
            found["exception inside application: " + line.split("application:", 1)[1].strip()] += 1
        elif " ERROR " in line or " WARNING " in line:
            found[re.sub(r"\d+", "N", line.split(" ", 3)[-1])[:120]] += 1
    return found


async def run(
    *,
    server: AsgiServer,
    rooms_data: list[RoomData],
    rounds: int,
    singles: int,
    concurrency: int,
    idle_seconds: float,
) -> bool:
    process = psutil.Process(server.pid)
    try:
        redis_process: psutil.Process | None = psutil.Process(int(redis_info()["process_id"]))
        redis_process.cpu_times()
    except (psutil.Error, KeyError, ValueError):
        redis_process = None
    cpu = CpuMeter(process, redis_process)
    router = Router()
    url = f"ws://127.0.0.1:{server.port}"
    origin = f"http://127.0.0.1:{server.port}"
    rooms = [
        {
            role: Participant(
                room=number, room_uuid=data.uuid, role=role, session_key=data.session_keys[role]
            )
            for role in ROLES
        }
        for number, data in enumerate(rooms_data)
    ]
    participants = [room[role] for room in rooms for role in ROLES]
    sequential = min(SEQUENTIAL_ROOMS, len(rooms) // 2) * 2

    memory: dict[str, dict[str, int]] = {}
    await in_thread(postgres_sessions)  # opens this process's own connection first
    await asyncio.sleep(1.0)
    memory["before any WebSocket"] = server_memory(process)
    sessions_before = await in_thread(postgres_sessions)

    phases = [
        await connect_phase(
            "one at a time", participants[:sequential], url, origin, router, concurrency=1
        )
    ]
    memory[f"after the first {sequential} sockets"] = server_memory(process)
    phases.append(
        await connect_phase(
            f"{concurrency} in flight",
            participants[sequential:],
            url,
            origin,
            router,
            concurrency=concurrency,
        )
    )
    failures = sum(len(phase.failures) for phase in phases)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(
            asyncio.gather(*(p.peer.wait() for p in participants if p.ws)), TIMEOUT
        )
    await asyncio.sleep(PAUSE)
    memory["all connected, idle"] = server_memory(process)
    await asyncio.sleep(1.5)  # PostgreSQL counts a session when it ends; let the stats settle
    sessions_per_socket = (await in_thread(postgres_sessions) - sessions_before) / len(participants)
    report_connections(phases, sessions_per_socket)
    extensions = {
        p.ws.response.headers.get("Sec-WebSocket-Extensions", "none")
        for p in participants
        if p.ws and p.ws.response
    }
    print(f"   WebSocket extensions negotiated: {', '.join(sorted(extensions))}")
    without_peer = sum(1 for p in participants if not p.peer.is_set())
    if failures or without_peer:
        print(f"   FAILED: {failures} sockets did not connect, {without_peer} never saw their peer")
        report_memory(memory, len(participants), sequential)
        return False

    relay = WebSocketRelay(rooms)
    floor = RedisPubSub(settings.REDIS_URL, len(rooms), router)
    await floor.start()
    results: list[Round] = []
    try:
        # Warm-up, not counted: first use of every code path and connection pool.
        await exchange(relay, len(rooms), router, cpu)
        await asyncio.sleep(PAUSE)
        await exchange(floor, len(rooms), router, cpu)
        await asyncio.sleep(PAUSE)
        for number in range(rounds):
            # Relay and floor take turns going first, so slow spells hit both alike.
            order: list[Any] = [relay, floor] if number % 2 == 0 else [floor, relay]
            found: dict[str, Any] = {}
            for transport in order:
                found[transport.name] = await exchange(transport, len(rooms), router, cpu)
                await asyncio.sleep(PAUSE)
            for transport in order:
                found[f"{transport.name} single"] = await one_at_a_time(
                    transport, len(rooms), singles, number * singles, router
                )
                await asyncio.sleep(PAUSE)
            results.append(
                Round(
                    relay=found["relay"][0],
                    relay_cpu=found["relay"][1],
                    relay_lag=found["relay"][2],
                    pubsub=found["pub/sub"][0],
                    pubsub_cpu=found["pub/sub"][1],
                    pubsub_lag=found["pub/sub"][2],
                    relay_single=found["relay single"],
                    pubsub_single=found["pub/sub single"],
                )
            )
            relay_round = results[-1].relay
            print(
                f"  round {number + 1}/{rounds}: relay {len(relay_round.received)}/"
                f"{len(relay_round.sent)} frames in {relay_round.wall:.2f} s",
                flush=True,
            )
    finally:
        await floor.close()
    memory["all connected, after the exchanges"] = server_memory(process)
    closed_while_measuring = Counter(p.close_code for p in participants if p.close_code is not None)

    # Nobody sends anything for a while, as in a call whose media flows peer to peer.
    await asyncio.sleep(idle_seconds)
    closed_while_idle = (
        Counter(p.close_code for p in participants if p.close_code is not None)
        - closed_while_measuring
    )

    # Everyone leaves at once: the server releases each seat in its own transaction.
    started = time.perf_counter()
    await asyncio.gather(*(p.ws.close() for p in participants if p.ws))
    closed = time.perf_counter() - started
    # Sockets the server closed itself after an exception never had their seat released, so
    # only wait for the others (at most 60 s).
    crashed = sum(1 for p in participants if p.close_code not in (None, 1000))
    while await in_thread(seats_taken) > crashed and time.perf_counter() - started < 60:
        await asyncio.sleep(0.05)
    released = time.perf_counter() - started
    seats_left = await in_thread(seats_taken)
    await asyncio.gather(*(p.reader for p in participants if p.reader))
    await asyncio.sleep(PAUSE)
    memory["after everyone left"] = server_memory(process)

    report_memory(memory, len(participants), sequential)
    report_exchanges(results, len(rooms))
    report_singles(results)
    report_limits(participants, router)
    print()
    print(
        "6. Sockets closed by the server: "
        + (
            ", ".join(f"code {code} x{n}" for code, n in sorted(closed_while_measuring.items()))
            or "none"
        )
        + f" during the measurements; in {idle_seconds:.0f} s with no frames afterwards: "
        + (
            ", ".join(f"code {code} x{n}" for code, n in sorted(closed_while_idle.items()))
            or "none"
        )
    )
    print()
    print(
        f"7. Leaving: {len(participants)} sockets closed in {closed:.2f} s (client side); the "
        f"server had released every seat after {released:.2f} s ({seats_left} left)"
    )
    lost = sum(r.relay.lost + r.relay_single.lost for r in results)
    unsent = sum(r.relay.unsent + r.relay_single.unsent for r in results)
    errors = sum(sum(p.errors.values()) for p in participants)
    dropped = sum((closed_while_measuring + closed_while_idle).values())
    floor_lost = sum(r.pubsub.lost + r.pubsub_single.lost for r in results)
    ok = lost == 0 and unsent == 0 and errors == 0 and dropped == 0 and seats_left == 0
    print()
    print(
        f"{'OK' if ok else 'FAILED'}: every relayed frame should arrive, with no error frame and "
        f"no socket closed by the server (relayed frames lost: {lost}, not sent on a closed "
        f"socket: {unsent}, error frames: {errors}, sockets closed by the server: {dropped}, "
        f"seats not released: {seats_left}; pub/sub frames lost: {floor_lost})"
    )
    return ok


# --- Main ------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 50 rooms, 2 rounds")
    parser.add_argument("--rooms", type=int, help="rooms, two sockets each (default 200)")
    parser.add_argument("--rounds", type=int, help="measured rounds (default 7)")
    parser.add_argument(
        "--singles", type=int, help="frames sent one at a time per round (default 100)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=50, help="WebSocket handshakes in flight (default 50)"
    )
    parser.add_argument(
        "--idle-seconds",
        type=float,
        default=15,
        help="seconds all sockets stay connected without frames at the end (default 15)",
    )
    parser.add_argument(
        "--redis-options",
        metavar="QUERY",
        help="redis-py options added to the server's REDIS_URL as its query string, "
        "e.g. 'socket_timeout=60&max_connections=1000' (default: none)",
    )
    parser.add_argument(
        "--server-env",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        help="an environment variable for the server, e.g. CHANNELS_CAPACITY=10000 "
        "(repeatable; DATABASE_URL and REDIS_URL cannot be changed this way)",
    )
    arguments = parser.parse_args()
    server_env: dict[str, str] = {}
    for item in arguments.server_env:
        name, equals, value = item.partition("=")
        if not equals or name in {"DATABASE_URL", "REDIS_URL"}:
            parser.error(f"--server-env {item!r}: give NAME=VALUE, not DATABASE_URL or REDIS_URL")
        server_env[name] = value
    rooms = arguments.rooms or (50 if arguments.quick else 200)
    rounds = arguments.rounds or (2 if arguments.quick else 7)
    singles = arguments.singles or (50 if arguments.quick else 100)

    check_services_are_ours(REDIS_DB)
    started = time.perf_counter()
    recreate_database()
    call_command("migrate", interactive=False, verbosity=0)
    flush_redis(REDIS_DB)
    migrated = time.perf_counter() - started

    layer = settings.CHANNEL_LAYERS["default"]
    capacity = server_env.get("CHANNELS_CAPACITY", layer["CONFIG"]["capacity"])
    offer = sdp_frame(next(FRAME_IDS), answer=False)
    answer = sdp_frame(next(FRAME_IDS), answer=True)
    candidates = [candidate_frame(next(FRAME_IDS), n) for n in range(CANDIDATES_PER_SIDE)]
    candidate_texts = [json.loads(c)["candidate"]["candidate"] for c in candidates]

    print("Signaling benchmark" + (" (quick)" if arguments.quick else ""))
    for line in machine_description():
        print(f"  {line}")
    print(f"  {code_version()}; database recreated and migrated in {migrated:.1f} s")
    print(
        f"  {rooms} rooms = {rooms * 2} WebSockets, {rounds} measured round(s) after a warm-up, "
        f"{singles} single frames per round; DEBUG={settings.DEBUG}"
    )
    print(
        f"  channel layer {layer['BACKEND']} (capacity {capacity}, expiry "
        f"{layer['CONFIG']['expiry']} s); signaling limits: burst {settings.SIGNALING_BURST}, "
        f"{settings.SIGNALING_MESSAGES_PER_SECOND}/s, {settings.SIGNALING_MAX_MESSAGE_BYTES} bytes"
    )
    print(
        f"  frame sizes (JSON as sent): offer {len(offer)} B, answer {len(answer)} B, candidate "
        f"{min(map(len, candidates))}-{max(map(len, candidates))} B (candidate string "
        f"{min(map(len, candidate_texts))}-{max(map(len, candidate_texts))} chars)"
    )

    setup_started = time.perf_counter()
    rooms_data = make_rooms(rooms)
    print(
        f"  {rooms} clinicians, {rooms} clients, {rooms} admitted appointments and "
        f"{rooms * 2} sessions created in {time.perf_counter() - setup_started:.1f} s"
    )

    log_dir = Path(tempfile.mkdtemp(prefix="telehealth-bench-signaling-"))
    server_redis_url = settings.REDIS_URL
    if arguments.redis_options:
        separator = "&" if "?" in server_redis_url else "?"
        server_redis_url += separator + arguments.redis_options.lstrip("?&")
    env = {
        "DJANGO_SETTINGS_MODULE": "telehealth.settings",
        "DATABASE_URL": database_url_for_server(),
        "REDIS_URL": server_redis_url,
        "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        "DEBUG": "false",
        # INFO, so that channels_redis's "over capacity" (a dropped message) shows in the log.
        "LOG_LEVEL": "INFO",
        "CELERY_TASK_ALWAYS_EAGER": "true",
    }
    env.update(server_env)
    server = AsgiServer(env=env, log_path=log_dir / "daphne.log")

    def terminate(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    ok = False
    try:
        server.start()
        print(f"  daphne pid {server.pid} on port {server.port}; log {server.log_path}")
        print(
            f"  server REDIS_URL {server_redis_url}; server environment set here: "
            + (", ".join(f"{k}={v}" for k, v in server_env.items()) or "nothing else")
        )
        ok = asyncio.run(
            run(
                server=server,
                rooms_data=rooms_data,
                rounds=rounds,
                singles=singles,
                concurrency=arguments.concurrency,
                idle_seconds=arguments.idle_seconds,
            )
        )
    finally:
        server.stop()
        flush_redis(REDIS_DB)
        notes = scan_server_log(server.log())
        print()
        print(
            "daphne log: "
            + (
                "; ".join(f"{line} x{count}" for line, count in notes.most_common(8))
                if notes
                else "no warnings, errors or dropped messages"
            )
        )
        print(f"  load average at the end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
