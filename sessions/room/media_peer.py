"""The server's own WebRTC peer: it receives one video track from a browser and keeps only the
newest decoded frame.

The browser offers (send-only video) over the room's signaling socket; this peer answers with
the host candidates aiortc gathered while setting its description, and takes the browser's
trickled candidates. Frames are pulled from the track as fast as they arrive so that nothing
queues up; whoever analyses them takes the newest with ``next_frame`` and the ones it had no
time for are dropped (and counted), never buffered.
"""

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import candidate_from_sdp

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArrivedFrame:
    frame: Any  # av.VideoFrame
    # When it came out of the decoder: monotonic (for rates) and wall clock (for latency).
    monotonic: float
    wall: float
    number: int


class ReceiveOnlyPeer:
    def __init__(self, *, ice_servers: list[dict[str, Any]] | None = None) -> None:
        servers = [
            RTCIceServer(
                urls=server["urls"],
                username=server.get("username"),
                credential=server.get("credential"),
            )
            for server in ice_servers or []
        ]
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
        self.received = 0
        self.dropped = 0
        self._latest: ArrivedFrame | None = None
        self._new = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._track: MediaStreamTrack | None = None
        self._closed = False
        self.track_ended = asyncio.Event()
        self.pc.on("track", self._on_track)

    @property
    def connection_state(self) -> str:
        return self.pc.connectionState

    @property
    def backlog(self) -> int:
        """Decoded frames held for the analysis: the newest one kept here (0 or 1), plus any
        the track has queued that the reader has not taken yet (aiortc queues frames without
        bound for whoever does not read them, so this is what would grow if frames were
        queued instead of dropped)."""
        queue = getattr(self._track, "_queue", None)
        return (self._latest is not None) + (queue.qsize() if queue is not None else 0)

    async def answer(self, offer_sdp: str) -> str:
        """Answer the browser's offer; the answer carries this peer's candidates."""
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        for transceiver in self.pc.getTransceivers():
            # Receive only: nothing of ours goes to the browser.
            transceiver.direction = "recvonly"
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return self.pc.localDescription.sdp

    async def add_candidate(self, candidate: dict[str, Any] | None) -> None:
        if candidate is None or not candidate.get("candidate"):
            await self.pc.addIceCandidate(None)
            return
        ice = candidate_from_sdp(candidate["candidate"].removeprefix("candidate:"))
        ice.sdpMid = candidate.get("sdpMid")
        ice.sdpMLineIndex = candidate.get("sdpMLineIndex")
        await self.pc.addIceCandidate(ice)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind != "video" or self._reader is not None:
            return
        self._track = track
        self._reader = asyncio.create_task(self._read(track), name="media peer reader")

    async def _read(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                self.received += 1
                if self._latest is not None:
                    self.dropped += 1  # the analysis did not take the previous one
                self._latest = ArrivedFrame(frame, time.monotonic(), time.time(), self.received)
                self._new.set()
        except MediaStreamError:
            pass
        finally:
            self.track_ended.set()
            self._new.set()

    async def next_frame(self, *, timeout: float) -> ArrivedFrame | None:
        """The newest frame not taken yet, waiting up to ``timeout`` seconds; None if none
        came or the track ended."""
        if self._latest is None:
            self._new.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new.wait(), timeout)
        frame, self._latest = self._latest, None
        return frame

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.pc.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._latest = None
