"""The base of the site's WebSocket consumers (the room, the clinician's feed, the assessment
panel) and their per-socket rate limit: shared by every app, so in the project's own package.

- NoConnectionSweepConsumer: sends nothing after a close, and skips Channels' per-message hop
  to the database thread.
- FrameConsumer: every browser frame is read the same way (telehealth.frames) and answered; a
  frame that fails gets an error frame, and the connection goes on.
- TokenBucket: ``burst`` frames at once and ``rate`` a second after that, per socket.
"""

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer

from telehealth.frames import FrameError, frame_parse

try:
    # What daphne (autobahn) raises on a send after the connection closed.
    from autobahn.exception import Disconnected as _Disconnected
except ImportError:  # another ASGI server
    _Disconnected = OSError

logger = logging.getLogger(__name__)

# ASGI servers raise OSError on a send after a disconnect; daphne raises its own.
ConnectionGone = (OSError, _Disconnected)


class TokenBucket:
    """Allows ``burst`` frames at once and ``rate`` per second after that."""

    def __init__(
        self, *, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.capacity = burst
        self.tokens = float(burst)
        self.clock = clock
        self.updated = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class NoConnectionSweepConsumer(AsyncWebsocketConsumer):
    """Dispatches without closing old database connections before every message.

    Channels' dispatch() hops to the database thread for every frame and every channel-layer
    message to close stale connections; these consumers touch the database only through
    database_sync_to_async, which does that itself. Skipping the hop raised relay throughput
    by 1.1 to 1.4 times (docs/benchmarks.md, "Signaling").
    """

    # Set once this side closed or the browser left: nothing more is sent.
    closing = False

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def close(self, code: int | None = None, reason: str | None = None) -> None:
        self.closing = True
        await super().close(code=code, reason=reason)

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        self.closing = True
        await super().websocket_disconnect(message)

    async def send(
        self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False
    ) -> None:
        """Sends, unless the connection is closing: news from the channel layer (the peer
        left, a frame relayed) keeps coming until this consumer has heard its own disconnect,
        and daphne raises on a send after a close, which killed the consumer before it
        released its seat and logged "Attempt to send on a closed protocol"."""
        if self.closing:
            return
        try:
            await super().send(text_data=text_data, bytes_data=bytes_data, close=close)
        except ConnectionGone:
            # The browser closed first and daphne has not told us yet: it is gone either way.
            self.closing = True


class FrameConsumer(NoConnectionSweepConsumer):
    """A socket whose browser sends JSON frames, all read the same way (telehealth.frames).

    Whatever a frame holds, it is answered: a frame that cannot be used gets an error frame
    and one the server fails to handle gets ``server_error`` (logged); the connection stays
    open. Subclasses set ``bucket`` when they accept someone and handle frames in on_frame().
    """

    max_frame_bytes = 64 * 1024
    rate_limited_message = "Too many messages: slow down."
    bucket: TokenBucket | None = None

    def listening(self) -> bool:
        """Whether frames from this browser are handled now (not before it was let in, nor
        after it was replaced)."""
        return self.bucket is not None

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self.listening():
            return
        if not self.bucket.take():
            await self._error("rate_limited", self.rate_limited_message)
            return
        try:
            frame = frame_parse(text_data, max_bytes=self.max_frame_bytes)
        except FrameError as error:
            await self._error(error.code, error.message)
            return
        # An error about a frame the page gave an id names it, so the page can show which of
        # its messages was not sent.
        ref = frame.get("id") if isinstance(frame.get("id"), str) else None
        try:
            await self.on_frame(frame)
        except FrameError as error:
            await self._error(error.code, error.message, ref=ref)
        except Exception:
            # An exception leaving a consumer kills it without running disconnect(): a room
            # seat would stay taken and the peer would never hear that this side left.
            # Whatever went wrong with one frame, the connection goes on.
            logger.exception(
                "Handling a %s frame failed on %s", frame["type"][:40], self.scope.get("path")
            )
            await self._error(
                "server_error", "The server could not handle that message. Try again.", ref=ref
            )

    async def on_frame(self, frame: dict[str, Any]) -> None:
        raise NotImplementedError

    async def _send(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(frame))

    async def _error(self, code: str, message: str, *, ref: str | None = None) -> None:
        frame = {"type": "error", "code": code, "message": message}
        if ref is not None:
            frame["id"] = ref[:36]
        await self._send(frame)
