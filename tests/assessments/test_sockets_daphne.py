"""Both sockets of a call through the real server (daphne) with real WebSocket clients: what
a hostile or broken browser can send, and how the connection answers.

Ana's session with Maya starts in five minutes; Maya has started the guided assessment and
let Ana in. The room socket is opened as Ana and as Maya, the assessment socket as Maya.
"""

import asyncio
import json
import os
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from assessments.consumers import MAX_FRAME_BYTES
from assessments.models import Assessment
from sessions.room.services import room_admit
from tests.asgi_server import AsgiServer
from tests.conftest import session_key_for
from tests.socket_fuzz import fuzz

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 10


async def open_socket(server: AsgiServer, path: str, session_key: str) -> ClientConnection:
    """A connected socket, past its first frame (the room's welcome, the panel's state)."""
    socket = await connect(
        f"ws://localhost:{server.port}{path}",
        origin=Origin(server.url),
        additional_headers={"Cookie": f"sessionid={session_key}"},
        open_timeout=TIMEOUT,
        max_size=None,
    )
    assert (await next_frame(socket))["type"] in ("welcome", "state")
    return socket


async def next_frame(
    socket: ClientConnection, wanted: Callable[[dict[str, Any]], bool] | None = None
) -> dict[str, Any]:
    while True:
        frame = json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT))
        if wanted is None or wanted(frame):
            return frame


async def close_code(socket: ClientConnection) -> int | None:
    """The code of the close frame the server sent, None if it sent none (1006)."""
    try:
        while True:
            await asyncio.wait_for(socket.recv(), TIMEOUT)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


def is_error(frame: dict[str, Any]) -> bool:
    return frame["type"] == "error"


@pytest.fixture
def sockets(asgi_server: AsgiServer, assessment: Assessment, clinician, client_record):
    """(path, session key, a valid frame, whether a frame answers it) for each socket."""
    appointment = assessment.appointment
    room_admit(appointment=appointment, user=clinician.user, now=timezone.now())
    room = f"/ws/appointments/{appointment.uuid}/room/"
    chat = {"type": "chat", "body": "Still here"}

    def chat_back(frame: dict[str, Any]) -> bool:
        # Not the room's history, sent again on each reconnect.
        return (
            frame["type"] == "chat" and frame["body"] == "Still here" and not frame.get("history")
        )

    def saved(frame: dict[str, Any]) -> bool:
        return frame["type"] in ("saved", "conflict") and frame["id"] == "probe"

    return {
        "room as client": (room, session_key_for(client_record.user), chat, chat_back),
        "room as clinician": (room, session_key_for(clinician.user), chat, chat_back),
        "assessment": (
            f"/ws/assessments/{assessment.uuid}/",
            session_key_for(clinician.user),
            {"type": "set", "id": "probe", "key": "faber.left.1.pain", "value": 2, "base": 0},
            saved,
        ),
    }


def test_deep_nesting_gets_an_error_and_frames_behind_it_are_answered(
    asgi_server: AsgiServer, sockets
) -> None:
    async def scenario() -> None:
        for name, (path, key, valid, answered) in sockets.items():
            socket = await open_socket(asgi_server, path, key)
            # Under both size limits (16 KiB for the panel), too deep for the JSON parser;
            # the valid frame is queued right behind it.
            await socket.send("[" * 5000)
            await socket.send(json.dumps(valid))
            error = await next_frame(socket, is_error)
            assert (error["code"], error["message"]) == (
                "bad_json",
                "The message is nested too deeply.",
            ), name
            await next_frame(socket, answered)
            await socket.close()

    asyncio.run(scenario())


def test_text_that_is_not_utf8_closes_with_1007_and_oversize_with_1009(
    asgi_server: AsgiServer, sockets
) -> None:
    async def scenario() -> None:
        for name, (path, key, _, _) in sockets.items():
            socket = await open_socket(asgi_server, path, key)
            # A text frame whose bytes are not UTF-8: the WebSocket protocol's own error,
            # caught by daphne before any consumer.
            await socket.send(b'{"type": "chat", "body": "\xff\xfe"}', text=True)
            assert await close_code(socket) == 1007, name

            socket = await open_socket(asgi_server, path, key)
            await socket.send(json.dumps({"type": "chat", "body": "x" * (1024 * 1024 + 1)}))
            assert await close_code(socket) == 1009, name

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "asgi_server",
    # Hostile frames come faster than a browser's: the rate limit is tested elsewhere.
    [{"env": {"SIGNALING_MESSAGES_PER_SECOND": "100000", "SIGNALING_BURST": "100000"}}],
    indirect=True,
)
def test_hostile_frames_close_no_socket_and_raise_no_error_on_either_socket(
    asgi_server: AsgiServer, sockets
) -> None:
    # bench/fuzz_sockets.py runs this with more frames and prints the tally.
    frames = int(os.environ.get("FUZZ_FRAMES", "120"))
    seed = int(os.environ.get("FUZZ_SEED", "20261207"))
    limits = {"room as client": 64 * 1024, "room as clinician": 64 * 1024}
    results = {}

    async def scenario() -> None:
        for number, (name, (path, key, valid, answered)) in enumerate(sockets.items()):

            async def opened(path: str = path, key: str = key) -> Any:
                return await open_socket(asgi_server, path, key)

            results[name] = await fuzz(
                opened,
                frames=frames,
                seed=seed + number,
                max_bytes=limits.get(name, MAX_FRAME_BYTES),
                probe=valid,
                answered=answered,
            )

    asyncio.run(scenario())
    asgi_server.stop()
    log = asgi_server.log()
    tracebacks = log.count("Traceback")
    print(
        "FUZZ-RESULT "
        + json.dumps(
            {
                name: {
                    "sent": tally.sent,
                    "error_frames": tally.error_frames,
                    "closes": dict(tally.closes),
                    "server_errors": tally.server_errors,
                    "unanswered": tally.unanswered,
                    "error_codes": dict(tally.error_codes),
                }
                for name, tally in results.items()
            }
            | {"tracebacks": tracebacks}
        )
    )
    for name, tally in results.items():
        assert tally.sent == frames, name
        assert not tally.closes, (name, tally)
        assert tally.server_errors == 0, (name, tally)
        assert tally.unanswered == 0, (name, tally)
    assert tracebacks == 0, log
