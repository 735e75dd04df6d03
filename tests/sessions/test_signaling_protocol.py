"""Which frames the signaling server accepts, and the per-connection rate limit."""

import json

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from sessions.room.signaling import SignalError, parse_frame
from telehealth.sockets import TokenBucket

LIMIT = 64 * 1024


def parse(frame: object):
    return parse_frame(json.dumps(frame), max_bytes=LIMIT)


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ({"type": "offer", "sdp": "v=0\r\n"}, {"sdp": "v=0\r\n"}),
        ({"type": "answer", "sdp": "v=0\r\n"}, {"sdp": "v=0\r\n"}),
        (
            {
                "type": "candidate",
                "candidate": {
                    "candidate": "candidate:1 1 udp 1 10.0.0.1 5000 typ host",
                    "sdpMid": "0",
                    "sdpMLineIndex": 0,
                },
            },
            {
                "candidate": {
                    "candidate": "candidate:1 1 udp 1 10.0.0.1 5000 typ host",
                    "sdpMid": "0",
                    "sdpMLineIndex": 0,
                    "usernameFragment": None,
                }
            },
        ),
        ({"type": "candidate", "candidate": None}, {"candidate": None}),
        ({"type": "chat", "body": "  Hello  "}, {"body": "Hello", "id": None}),
        (
            {"type": "chat", "body": "Hi", "id": "0b7e9c4e-5f0c-4a43-9a55-3f2f0c1d2e3f"},
            {"body": "Hi", "id": "0b7e9c4e-5f0c-4a43-9a55-3f2f0c1d2e3f"},
        ),
        ({"type": "ping"}, {}),
        ({"type": "state", "audio": False, "video": True}, {"audio": False, "video": True}),
        ({"type": "state", "connection": "connected"}, {"connection": "connected"}),
        ({"type": "bye"}, {"end": False, "id": None}),
        ({"type": "bye", "end": True}, {"end": True, "id": None}),
        (
            {"type": "state", "audio": False, "id": "0b7e9c4e-5f0c-4a43-9a55-3f2f0c1d2e3f"},
            {"audio": False, "id": "0b7e9c4e-5f0c-4a43-9a55-3f2f0c1d2e3f"},
        ),
    ],
)
def test_known_frames_are_accepted(frame: dict, expected: dict) -> None:
    signal = parse(frame)

    assert signal.type == frame["type"]
    assert signal.payload == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (None, "bad_frame"),
        ("not json", "bad_json"),
        ("[1, 2]", "bad_frame"),
        ('"offer"', "bad_frame"),
        ('{"sdp": "v=0"}', "bad_frame"),
        ('{"type": 5}', "bad_frame"),
        ('{"type": "join"}', "unknown_type"),
        ('{"type": "offer"}', "bad_field"),
        ('{"type": "offer", "sdp": ""}', "bad_field"),
        ('{"type": "offer", "sdp": 42}', "bad_field"),
        ('{"type": "offer", "sdp": "v=0", "to": "someone"}', "unknown_field"),
        ('{"type": "candidate"}', "bad_field"),
        ('{"type": "candidate", "candidate": "text"}', "bad_field"),
        (
            '{"type": "candidate", "candidate": {"candidate": "x", "sdpMLineIndex": -1}}',
            "bad_field",
        ),
        (
            '{"type": "candidate", "candidate": {"candidate": "x", "sdpMLineIndex": true}}',
            "bad_field",
        ),
        ('{"type": "candidate", "candidate": {"candidate": "x", "evil": 1}}', "unknown_field"),
        ('{"type": "chat", "body": "   "}', "bad_field"),
        ('{"type": "chat", "body": "' + "x" * 2001 + '"}', "too_large"),
        ('{"type": "state", "audio": "off"}', "bad_field"),
        ('{"type": "state", "connection": "exploded"}', "bad_field"),
        ('{"type": "bye", "end": "yes"}', "bad_field"),
        ('{"type": "offer", "sdp": "' + "x" * 60_001 + '"}', "too_large"),
    ],
)
def test_bad_frames_are_refused_with_a_reason(text: str | None, code: str) -> None:
    with pytest.raises(SignalError) as refused:
        parse_frame(text, max_bytes=LIMIT)

    assert refused.value.code == code
    assert refused.value.message


def test_frames_over_the_byte_limit_are_refused_before_parsing() -> None:
    frame = json.dumps({"type": "chat", "body": "é" * 700})

    with pytest.raises(SignalError) as refused:
        parse_frame(frame, max_bytes=1000)

    assert refused.value.code == "too_large"


ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=12,
)
# Text a browser could send that the database or the peer cannot take: NUL, lone surrogates.
AWKWARD_TEXT = st.sampled_from(["\x00", "v=0\x00", "\ud800", "x\udfff", " ", ""]) | st.text()
# Values a known field expects, so that frames also come close to valid ones.
PLAUSIBLE = st.sampled_from(
    [
        "v=0",
        "candidate:1 1 udp 1 10.0.0.1 9 typ host",
        "0",
        "connected",
        "exploded",
        "offer",
        "candidate",
        "stop",
        "8d5e9ad4-7ad7-4b62-9d0e-3c3b5d6bb0a1",
        "Hello",
        True,
        False,
        0,
        63,
        64,
    ]
)
FIELD_VALUE = ANY_JSON | AWKWARD_TEXT | PLAUSIBLE
CANDIDATE = st.fixed_dictionaries(
    {},
    optional=dict.fromkeys(
        ("candidate", "sdpMid", "sdpMLineIndex", "usernameFragment"), FIELD_VALUE
    ),
)
FIELDS = {
    "offer": ("sdp",),
    "answer": ("sdp",),
    "candidate": ("candidate",),
    "chat": ("body", "id"),
    "ping": (),
    "state": ("audio", "video", "connection", "id"),
    "bye": ("end", "id"),
    "media": ("action", "id", "sdp", "candidate"),
}
TYPES = list(FIELDS)


def frame_of(kind: str) -> st.SearchStrategy[dict]:
    """Frames of one type whose own fields hold any value, so the parser meets known fields
    with wrong types (not only unknown fields): all of them, or some and a stray one."""
    values = {
        key: CANDIDATE | FIELD_VALUE if key == "candidate" else FIELD_VALUE for key in FIELDS[kind]
    }
    return st.fixed_dictionaries({"type": st.just(kind), **values}) | st.fixed_dictionaries(
        {"type": st.just(kind)}, optional={**values, "to": FIELD_VALUE}
    )


FRAMES = st.one_of([frame_of(kind) for kind in TYPES]) | st.fixed_dictionaries({"type": ANY_JSON})


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FRAMES | ANY_JSON, st.booleans())
def test_any_json_is_either_a_valid_signal_or_a_signal_error(frame, ascii_only) -> None:
    # As \u escapes, or as the characters themselves (a lone surrogate cannot be UTF-8).
    text = json.dumps(frame, ensure_ascii=ascii_only)
    try:
        signal = parse_frame(text, max_bytes=LIMIT)
    except SignalError:
        return  # the consumer answers with an error frame
    assert signal.type in TYPES
    # Whatever is accepted can be relayed as UTF-8 and kept in PostgreSQL.
    relayed = json.dumps(signal.payload, ensure_ascii=False)
    relayed.encode("utf-8")
    assert "\x00" not in relayed


@pytest.mark.parametrize(
    "wanted",
    [
        lambda frame: frame.get("type") == "state" and isinstance(frame.get("connection"), list),
        lambda frame: frame.get("type") == "chat" and "\x00" in str(frame.get("body")),
        lambda frame: frame.get("type") == "media" and isinstance(frame.get("action"), dict),
        lambda frame: (
            frame.get("type") == "candidate"
            and isinstance(frame.get("candidate"), dict)
            and isinstance(frame["candidate"].get("sdpMLineIndex"), str)
        ),
    ],
    ids=["connection-list", "chat-nul", "media-action-object", "candidate-index-text"],
)
def test_the_frame_generator_reaches_known_fields_with_wrong_values(wanted) -> None:
    # A property test is only as good as what it generates: these must come up readily.
    find(
        FRAMES,
        wanted,
        settings=settings(
            max_examples=2000,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("[" * 60_000, "bad_json"),
        ('{"type": "chat", "body": ' + "[" * 5_000 + "]" * 5_000 + "}", "bad_json"),
        ('{"type": "state", "connection": []}', "bad_field"),
        ('{"type": "state", "connection": {"a": 1}}', "bad_field"),
        ('{"type": "media", "action": [], "id": "x"}', "bad_field"),
        ('{"type": "chat", "body": "a\\u0000b"}', "bad_field"),
        ('{"type": "offer", "sdp": "v=0\\u0000"}', "bad_field"),
        ('{"type": "chat", "body": "\\ud800"}', "bad_field"),
        ('{"type": "chat", "body": "\ud800"}', "bad_frame"),
        (
            '{"type": "candidate", "candidate": {"candidate": "x", "sdpMid": "\\udfff"}}',
            "bad_field",
        ),
    ],
    ids=[
        "deep-nesting",
        "deep-nesting-in-a-field",
        "connection-list",
        "connection-object",
        "action-list",
        "nul-in-chat",
        "nul-in-sdp",
        "escaped-surrogate",
        "raw-surrogate",
        "surrogate-in-candidate",
    ],
)
def test_frames_that_once_crashed_the_parser_are_refused(text: str, code: str) -> None:
    with pytest.raises(SignalError) as refused:
        parse_frame(text, max_bytes=LIMIT)

    assert refused.value.code == code


def test_the_bucket_allows_a_burst_then_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=10, burst=5, clock=lambda: now[0])

    assert [bucket.take() for _ in range(6)] == [True] * 5 + [False]
    now[0] += 0.1  # one more token after a tenth of a second at 10 per second
    assert bucket.take() is True
    assert bucket.take() is False
    now[0] += 60  # a long pause refills only up to the burst
    assert sum(bucket.take() for _ in range(20)) == 5
