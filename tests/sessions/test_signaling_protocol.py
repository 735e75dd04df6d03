"""Which frames the signaling server accepts, and the per-connection rate limit."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessions.signaling import SignalError, TokenBucket, parse_frame

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
        ({"type": "chat", "body": "  Hello  "}, {"body": "Hello"}),
        ({"type": "state", "audio": False, "video": True}, {"audio": False, "video": True}),
        ({"type": "state", "connection": "connected"}, {"connection": "connected"}),
        ({"type": "bye"}, {"end": False}),
        ({"type": "bye", "end": True}, {"end": True}),
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


@settings(max_examples=500, deadline=None)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False)
        | st.text(max_size=50),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=12), children, max_size=5)
        ),
        max_leaves=12,
    ),
    st.sampled_from(["offer", "answer", "candidate", "chat", "state", "bye", None]),
)
def test_any_json_is_either_a_valid_signal_or_a_signal_error(value, kind) -> None:
    frame = {**value, "type": kind} if isinstance(value, dict) and kind else value
    try:
        signal = parse_frame(json.dumps(frame), max_bytes=LIMIT)
    except SignalError:
        return
    assert signal.type in {"offer", "answer", "candidate", "chat", "state", "bye"}
    json.dumps(signal.payload)  # whatever is relayed can be sent on


def test_the_bucket_allows_a_burst_then_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=10, burst=5, clock=lambda: now[0])

    assert [bucket.take() for _ in range(6)] == [True] * 5 + [False]
    now[0] += 0.1  # one more token after a tenth of a second at 10 per second
    assert bucket.take() is True
    assert bucket.take() is False
    now[0] += 60  # a long pause refills only up to the burst
    assert sum(bucket.take() for _ in range(20)) == 5
