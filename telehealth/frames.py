"""Frames from a browser's WebSocket, read the same way by every socket of the site.

A frame is JSON text holding an object with a text ``type``. Anything else is refused with a
``FrameError`` (``code`` for the page's code, ``message`` in plain words for people), which
the consumer sends back as an error frame; the connection stays open. What each ``type``
means is each socket's own business (sessions.room.signaling, assessments.consumers).

The rules and the close codes are in docs/live-sessions.md.
"""

import json
from typing import Any


class FrameError(Exception):
    """A frame the server refuses; ``code`` is machine-readable, ``message`` for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def text_is_unicode(text: str) -> bool:
    """False for text holding a lone surrogate (JSON may spell one, ``\\ud800``): it is no
    character at all, cannot be stored, nor sent on as UTF-8."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def frame_parse(text: str | None, *, max_bytes: int) -> dict[str, Any]:
    """The frame as a JSON object with a text ``type``, or FrameError saying what is wrong.

    ``text`` is None for a binary frame. Never raises anything but FrameError, whatever the
    frame: a property test sends it every JSON shape, depth and size.
    """
    if text is None:
        raise FrameError("bad_frame", "Messages must be JSON text, not binary.")
    if not text_is_unicode(text):
        raise FrameError("bad_frame", "Messages must be valid Unicode text.")
    if len(text.encode()) > max_bytes:
        raise FrameError("too_large", f"Messages may be at most {max_bytes} bytes.")
    try:
        frame = json.loads(text)
    except RecursionError:
        # A few kilobytes of "[" nest deeper than the parser's recursion allows. Caught
        # before ValueError's handler could miss it: RecursionError is not a ValueError.
        raise FrameError("bad_json", "The message is nested too deeply.") from None
    except ValueError:  # not JSON, or a number longer than Python reads
        raise FrameError("bad_json", "The message is not valid JSON.") from None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise FrameError("bad_frame", "A message must be a JSON object with a text “type”.")
    return frame
