"""Both sockets of a call read frames with one parser (telehealth/frames.py), and whatever a
browser sends, each answers a frame it cannot use with an error frame and stays open.

The property runs through the full ASGI stack (session cookie, Origin check, Redis channel
layer) for the room socket as the client let in and for the clinician's assessment panel.
Frames of every JSON shape, depth and size, text that is not JSON, text that is not Unicode
and binary frames; after each, a valid frame must still be answered.
"""

import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assessments.consumers import MAX_FRAME_BYTES
from sessions.room.services import room_admit
from telehealth.asgi import application
from telehealth.frames import FrameError, frame_parse
from tests.conftest import session_key_for

pytestmark = pytest.mark.django_db(transaction=True)

ROOM_LIMIT = 64 * 1024

ANY_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.sampled_from(["\x00", "\ud800"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
ASSESSMENT_TYPES = ["set", "step", "measure", "accept"]
ROOM_TYPES = ["offer", "answer", "candidate", "chat", "state", "bye", "media"]
TYPES = st.sampled_from([*ASSESSMENT_TYPES, *ROOM_TYPES, "", "error", "__proto__"])
OBJECTS = st.fixed_dictionaries(
    {"type": TYPES | ANY_JSON},
    optional=dict.fromkeys(
        ("id", "key", "value", "base", "protocol", "action", "body", "sdp", "end"), ANY_JSON
    ),
)


def _nested(depth: int, closed: bool) -> str:
    return "[" * depth + ("]" * depth if closed else "")


DEEP = st.builds(_nested, st.integers(1, 12_000), st.booleans()) | st.builds(
    lambda depth: '{"type": "set", "value": ' + _nested(depth, True) + "}",
    st.integers(500, 5_000),
)
HUGE = st.builds(
    lambda size, key: json.dumps({"type": "chat", key: "x" * size}),
    st.integers(10_000, 80_000),
    st.sampled_from(["body", "value", "notes"]),
)
TEXT_FRAMES = (
    st.builds(json.dumps, OBJECTS | ANY_JSON)
    | st.builds(lambda f: json.dumps(f, ensure_ascii=False), OBJECTS)
    | DEEP
    | HUGE
    | st.text(max_size=200)
)
# None marks a binary frame, drawn as its bytes.
FRAMES = st.tuples(TEXT_FRAMES, st.none()) | st.tuples(st.none(), st.binary(max_size=300))


def refused(text: str | None, max_bytes: int) -> bool:
    try:
        frame_parse(text, max_bytes=max_bytes)
    except FrameError:
        return True
    return False


async def _open(path: str, session_key: str) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(
        application,
        path,
        headers=[
            (b"origin", b"http://localhost"),
            (b"host", b"localhost"),
            (b"cookie", f"sessionid={session_key}".encode()),
        ],
    )
    assert (await socket.connect())[0]
    return socket


async def _answers_until(
    socket: WebsocketCommunicator, done: Any, timeout: float = 10
) -> list[dict[str, Any]]:
    """Frames the socket sends until ``done(frame)``; a close fails the test."""
    frames = []
    while True:
        output = await socket.receive_output(timeout)
        assert output["type"] == "websocket.send", output
        frame = json.loads(output["text"])
        frames.append(frame)
        if done(frame):
            return frames


PROPERTY = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize("socket", ["room", "assessment"])
@PROPERTY
@given(frame=FRAMES)
def test_any_frame_gets_an_answer_and_the_socket_stays_open(
    socket, frame, assessment, clinician, client_record
) -> None:
    text, binary = frame
    appointment = assessment.appointment
    room_admit(appointment=appointment, user=clinician.user, now=timezone.now())
    if socket == "room":
        path = f"/ws/appointments/{appointment.uuid}/room/?page=fuzz"
        key, limit = session_key_for(client_record.user), ROOM_LIMIT
        probe = {"type": "chat", "body": "Still here"}

        def probe_answered(f: dict[str, Any]) -> bool:
            # Not the room's history, sent again on each reconnect.
            return f["type"] == "chat" and f["body"] == "Still here" and not f.get("history")

        def opened(f: dict[str, Any]) -> bool:
            return f["type"] == "welcome"
    else:
        path = f"/ws/assessments/{assessment.uuid}/"
        key, limit = session_key_for(clinician.user), MAX_FRAME_BYTES
        probe = {"type": "set", "id": "probe", "key": "faber.left.1.pain", "value": 1, "base": 0}

        def probe_answered(f: dict[str, Any]) -> bool:
            return f.get("id") == "probe"

        def opened(f: dict[str, Any]) -> bool:
            return f["type"] == "state"

    async def scenario() -> None:
        communicator = await _open(path, key)
        await _answers_until(communicator, opened)
        # As the ASGI message itself: the communicator's send_to() refuses empty frames.
        if binary is not None:
            await communicator.send_input({"type": "websocket.receive", "bytes": binary})
        else:
            await communicator.send_input({"type": "websocket.receive", "text": text})
        await communicator.send_to(text_data=json.dumps(probe))
        answers = await _answers_until(communicator, probe_answered)
        errors = [f for f in answers if f["type"] == "error"]
        if refused(text, limit):
            assert errors, answers
            assert errors[0]["message"]
        # Nothing a browser sends makes the server fail.
        assert not [f for f in errors if f["code"] == "server_error"], answers
        await communicator.disconnect()

    async_to_sync(scenario)()
