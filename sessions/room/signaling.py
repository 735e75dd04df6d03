"""The signaling protocol: which frames a browser may send, checked before anything is relayed.

Frames are JSON objects with a "type". Browsers send:

- ``offer`` / ``answer``: ``{"type", "sdp": str}``
- ``candidate``: ``{"type", "candidate": {"candidate", "sdpMid", "sdpMLineIndex",
  "usernameFragment"} | null}`` (null ends the candidates)
- ``chat``: ``{"type", "body": str, "id"?: uuid}`` (kept with the appointment; ``id`` is
  chosen by the page, and the server keeps each id once and answers it with the same receipt)
- ``ping``: ``{"type"}``, answered ``{"type": "pong"}``: the page's heartbeat
- ``state``: ``{"type", "audio"?: bool, "video"?: bool, "connection"?: str, "id"?: uuid}``
- ``bye``: ``{"type", "end"?: bool, "id"?: uuid}`` (``end`` from the clinician ends the
  session for both)

A ``state`` or ``bye`` with an ``id`` (what a person did: mute, camera, end) is answered
``{"type": "ack", "id"}`` once handled, so the page knows it was not lost.
- ``media``: ``{"type", "action": "offer" | "candidate" | "stop", "id": measurement uuid,
  "sdp"?: str, "candidate"?: …}``: the client's camera to the server's own peer, for a
  measurement the clinician started (only the client sends these)

Every field must have its type; text must be Unicode that PostgreSQL can store (no NUL, no
lone surrogates). Anything else is refused with an error frame and the connection stays open.
Frames over daphne's own limit (1 MiB) never get here: daphne closes the connection with 1009.
"""

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from telehealth.frames import FrameError, frame_parse, text_is_unicode

MAX_SDP_CHARS = 60_000
MAX_CANDIDATE_CHARS = 1_000
MAX_CHAT_CHARS = 2_000
CONNECTION_STATES = {"new", "connecting", "connected", "disconnected", "failed", "closed"}


# The signaling code's name for a refused frame: one exception for every socket.
SignalError = FrameError


@dataclass(frozen=True)
class Signal:
    type: str
    payload: dict[str, Any]


def _only(frame: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(frame) - allowed - {"type"}
    if unknown:
        raise SignalError(
            "unknown_field", f"Unexpected field(s): {', '.join(sorted(unknown))[:200]}."
        )


def _text(frame: dict[str, Any], key: str, *, limit: int, required: bool = True) -> str | None:
    value = frame.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise SignalError("bad_field", f"“{key}” must be text.")
    if len(value) > limit:
        raise SignalError("too_large", f"“{key}” is longer than {limit} characters.")
    # PostgreSQL text cannot hold NUL, and no SDP, candidate or message needs it.
    if "\x00" in value or not text_is_unicode(value):
        raise SignalError("bad_field", f"“{key}” contains characters that are not text.")
    return value


def _flag(frame: dict[str, Any], key: str) -> bool | None:
    value = frame.get(key)
    if value is not None and not isinstance(value, bool):
        raise SignalError("bad_field", f"“{key}” must be true or false.")
    return value


def _candidate(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise SignalError("bad_field", "“candidate” must be an object or null.")
    _only(value, {"candidate", "sdpMid", "sdpMLineIndex", "usernameFragment"})
    candidate = _text(value, "candidate", limit=MAX_CANDIDATE_CHARS, required=False)
    mid = _text(value, "sdpMid", limit=64, required=False)
    fragment = _text(value, "usernameFragment", limit=256, required=False)
    index = value.get("sdpMLineIndex")
    if index is not None and (
        not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < 64
    ):
        raise SignalError("bad_field", "“sdpMLineIndex” must be a small whole number.")
    return {
        "candidate": candidate or "",
        "sdpMid": mid,
        "sdpMLineIndex": index,
        "usernameFragment": fragment,
    }


def _client_id(frame: dict[str, Any]) -> str | None:
    if frame.get("id") is None:
        return None
    value = _text(frame, "id", limit=36)
    try:
        return str(UUID(value))
    except ValueError:
        raise SignalError("bad_field", "“id” must be a UUID.") from None


def parse_frame(text: str | None, *, max_bytes: int) -> Signal:
    """Check one frame from a browser; raises SignalError with what is wrong."""
    return signal_check(frame_parse(text, max_bytes=max_bytes))


def signal_check(frame: dict[str, Any]) -> Signal:
    """The signal a frame read by telehealth.frames.frame_parse carries, or SignalError."""
    kind = frame["type"]
    if kind in ("offer", "answer"):
        _only(frame, {"sdp"})
        return Signal(kind, {"sdp": _text(frame, "sdp", limit=MAX_SDP_CHARS)})
    if kind == "candidate":
        _only(frame, {"candidate"})
        if "candidate" not in frame:
            raise SignalError("bad_field", "“candidate” is missing.")
        return Signal(kind, {"candidate": _candidate(frame["candidate"])})
    if kind == "chat":
        _only(frame, {"body", "id"})
        body = _text(frame, "body", limit=MAX_CHAT_CHARS)
        return Signal(kind, {"body": body.strip(), "id": _client_id(frame)})
    if kind == "ping":
        _only(frame, set())
        return Signal(kind, {})
    if kind == "state":
        _only(frame, {"audio", "video", "connection", "id"})
        payload: dict[str, Any] = {}
        if (action_id := _client_id(frame)) is not None:
            payload["id"] = action_id
        for key in ("audio", "video"):
            if (flag := _flag(frame, key)) is not None:
                payload[key] = flag
        if "connection" in frame:
            connection = frame["connection"]
            if not isinstance(connection, str) or connection not in CONNECTION_STATES:
                raise SignalError("bad_field", "“connection” is not a connection state.")
            payload["connection"] = connection
        return Signal(kind, payload)
    if kind == "media":
        _only(frame, {"action", "id", "sdp", "candidate"})
        action = frame.get("action")
        if not isinstance(action, str) or action not in ("offer", "candidate", "stop"):
            raise SignalError("bad_field", "“action” must be offer, candidate or stop.")
        measurement = _text(frame, "id", limit=36)
        try:
            UUID(measurement)
        except ValueError:
            raise SignalError("bad_field", "“id” must be a measurement id.") from None
        media: dict[str, Any] = {"action": action, "id": measurement}
        if action == "offer":
            media["sdp"] = _text(frame, "sdp", limit=MAX_SDP_CHARS)
        elif action == "candidate":
            if "candidate" not in frame:
                raise SignalError("bad_field", "“candidate” is missing.")
            media["candidate"] = _candidate(frame["candidate"])
        return Signal(kind, media)
    if kind == "bye":
        _only(frame, {"end", "id"})
        return Signal(kind, {"end": bool(_flag(frame, "end")), "id": _client_id(frame)})
    raise SignalError("unknown_type", f"Unknown frame type “{kind[:40]}”.")
