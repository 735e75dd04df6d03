"""A WebRTC peer (aiortc) that takes part in a session room through the real signaling server.

It speaks the frame protocol of sessions.room.signaling over a ``websockets`` connection and plays
the part static/js/room.js plays in a browser: it waits for "welcome", follows "peer" and
"admitted", and once the client is admitted and both are present, the impolite side (the
clinician) makes the offer and the polite side (the client) answers. Every description is
followed by the host candidates it carries, one ``candidate`` frame each (the browser's
trickle; aiortc gathers before it describes, so the SDP already holds them), and then by the
end-of-candidates frame ``{"candidate": null}``. Each peer reports its connection state with
``state`` frames, as the page does, and leaves with ``bye`` and a normal close.

Every frame received is checked against the protocol; anything unexpected is kept in
``problems`` and fails the next wait. Video is a test pattern: a background in a colour that
tells the roles apart and a bright bar that moves across, so the receiving side can tell that
the frames it decodes are the other side's and that they move.
"""

import asyncio
import contextlib
import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import candidate_from_sdp
from av import VideoFrame
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

WIDTH, HEIGHT = 320, 240
BACKGROUND_LUMA, BAR_LUMA = 90, 220
BAR_WIDTH, BAR_STEP = 16, 4
# (U, V) of each role's background: far apart, so lossy coding cannot blur one into the other.
CHROMA = {"clinician": (200, 90), "client": (90, 200)}
OTHER = {"clinician": "client", "client": "clinician"}
CONNECTION_STATES = {"new", "connecting", "connected", "disconnected", "failed", "closed"}
CANDIDATE_FIELDS = {"candidate", "sdpMid", "sdpMLineIndex", "usernameFragment"}


class PatternTrack(VideoStreamTrack):
    """30 frames a second of a bar moving across a background in one role's colour."""

    def __init__(self, role: str) -> None:
        super().__init__()
        self.chroma = CHROMA[role]
        self.sent = 0

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame(width=WIDTH, height=HEIGHT, format="yuv420p")
        x = (self.sent * BAR_STEP) % (WIDTH - BAR_WIDTH)
        luma, *chroma = frame.planes
        row = bytearray([BACKGROUND_LUMA]) * luma.line_size
        row[x : x + BAR_WIDTH] = bytes([BAR_LUMA]) * BAR_WIDTH
        luma.update(bytes(row) * luma.height)
        for plane, value in zip(chroma, self.chroma, strict=True):
            plane.update(bytes([value]) * (plane.line_size * plane.height))
        frame.pts, frame.time_base = pts, time_base
        self.sent += 1
        return frame


def _middle_row(plane: Any) -> bytes:
    start = plane.line_size * (plane.height // 2)
    return bytes(plane)[start : start + plane.width]


@dataclass
class ReceivedVideo:
    """What a peer decoded from the other side's track."""

    frames: int = 0
    sizes: set[tuple[int, int]] = field(default_factory=set)
    # Median (U, V) of the middle row of each frame: the sender's background colour.
    chroma: list[tuple[int, int]] = field(default_factory=list)
    # Where the bright bar starts in the middle row, or None if no bar was found.
    bar_positions: list[int | None] = field(default_factory=list)

    def add(self, frame: VideoFrame) -> None:
        self.frames += 1
        self.sizes.add((frame.width, frame.height))
        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        luma, u, v = frame.planes
        self.chroma.append(
            (
                round(statistics.median(_middle_row(u))),
                round(statistics.median(_middle_row(v))),
            )
        )
        threshold = (BACKGROUND_LUMA + BAR_LUMA) // 2
        row = _middle_row(luma)
        self.bar_positions.append(
            next((x for x, value in enumerate(row) if value > threshold), None)
        )


def sdp_candidates(sdp: str) -> list[dict[str, Any]]:
    """The candidates of a description as browsers trickle them (RTCIceCandidate.toJSON())."""
    session_ufrag = None
    sections: list[dict[str, Any]] = []
    for line in sdp.splitlines():
        if line.startswith("m="):
            sections.append({"mid": None, "ufrag": session_ufrag, "candidates": []})
        elif line.startswith("a=ice-ufrag:"):
            if sections:
                sections[-1]["ufrag"] = line.removeprefix("a=ice-ufrag:")
            else:
                session_ufrag = line.removeprefix("a=ice-ufrag:")
        elif line.startswith("a=mid:") and sections:
            sections[-1]["mid"] = line.removeprefix("a=mid:")
        elif line.startswith("a=candidate:") and sections:
            sections[-1]["candidates"].append(line.removeprefix("a="))
    return [
        {
            "candidate": candidate,
            "sdpMid": section["mid"],
            "sdpMLineIndex": index,
            "usernameFragment": section["ufrag"],
        }
        for index, section in enumerate(sections)
        for candidate in section["candidates"]
    ]


class RoomPeer:
    """One participant: a signaling socket and, once admitted, an RTCPeerConnection."""

    def __init__(
        self, *, role: str, base_url: str, appointment: str, session_key: str, page: str
    ) -> None:
        self.role = role
        self.other = OTHER[role]
        self.polite = role == "client"
        self.base_url = base_url
        self.socket_url = (
            base_url.replace("http://", "ws://", 1)
            + f"/ws/appointments/{appointment}/room/?page={page}"
        )
        self.session_key = session_key
        self.page = page
        # The other participant's page id, so "peer" frames can be checked.
        self.peer_page: str | None = None

        self.ws: ClientConnection | None = None
        self.frames: list[dict[str, Any]] = []
        self.problems: list[str] = []
        self.welcome: dict[str, Any] | None = None
        self.peer_present = False
        self.peer_left = False
        self.admitted = False
        self.bye = False
        self.descriptions: list[str] = []  # types of the descriptions received
        self.candidates: list[dict[str, Any]] = []  # candidate objects received
        self.end_of_candidates = 0
        self.sent_candidates: list[dict[str, Any]] = []
        self.peer_states: list[str] = []  # the other side's reported connection states
        self.connection_states: list[str] = []  # this side's, as aiortc reported them

        self.track = PatternTrack(role)
        self.video = ReceivedVideo()
        self.pc: RTCPeerConnection | None = None
        self.leaving = False
        self._reader: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._changed = asyncio.Event()

    # --- Waiting ---------------------------------------------------------------------------

    def _touch(self) -> None:
        self._changed.set()

    def _problem(self, text: str) -> None:
        self.problems.append(text)
        self._touch()

    def check(self) -> None:
        assert not self.problems, f"{self.role}: {self.problems}\nframes: {self.log()}"

    def log(self) -> str:
        return "\n".join(_short(frame) for frame in self.frames)

    async def until(self, what: str, predicate: Callable[[], bool], timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self.check()
            if predicate():
                return
            self._changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"{self.role}: no {what} within {timeout}s; connection states "
                    f"{self.connection_states}, frames:\n{self.log()}"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    # --- Signaling -------------------------------------------------------------------------

    async def connect(self, *, timeout: float = 10) -> dict[str, Any]:
        self.ws = await connect(
            self.socket_url,
            origin=Origin(self.base_url),
            additional_headers={"Cookie": f"sessionid={self.session_key}"},
            open_timeout=timeout,
        )
        self._reader = asyncio.create_task(self._read(), name=f"{self.role} signaling")
        await self.until("welcome", lambda: self.welcome is not None, timeout)
        assert self.welcome is not None
        return self.welcome

    async def send(self, frame: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps(frame))

    async def _read(self) -> None:
        assert self.ws is not None
        # Frames are handled one after another, as on the page: a candidate must not overtake
        # its description.
        try:
            async for message in self.ws:
                frame = json.loads(message)
                self.frames.append(frame)
                self._check_frame(frame)
                await self._handle(frame)
                self._touch()
        except ConnectionClosed as closed:
            self._problem(f"the signaling socket failed: {closed!r}")
            return
        except Exception as error:
            self._problem(f"handling a frame failed: {error!r}")
            return
        if not self.leaving:
            self._problem(f"the server closed the signaling socket ({self.ws.close_code})")
        self._touch()

    def _check_frame(self, frame: Any) -> None:
        """Is this frame one the protocol lets the server send to this participant now?"""
        if not isinstance(frame, dict):
            self._problem(f"not a JSON object: {frame!r}")
            return
        kind, keys = frame.get("type"), set(frame)

        def expect(condition: bool, what: str) -> None:
            if not condition:
                self._problem(f"{what}: {_short(frame)}")

        if kind == "welcome":
            expect(self.welcome is None and len(self.frames) == 1, "welcome is not the first")
            expect(keys == {"type", "role", "polite", "admitted", "iceServers"}, "welcome keys")
            expect(frame.get("role") == self.role, "welcome with the wrong role")
            expect(frame.get("polite") is self.polite, "welcome with the wrong politeness")
            expect(frame.get("admitted") is False, "welcome says admitted before admission")
            expect(isinstance(frame.get("iceServers"), list), "welcome without iceServers")
            self.welcome = frame
            return
        expect(self.welcome is not None, "a frame before welcome")
        if kind == "peer":
            expect(keys == {"type", "state", "role", "page"}, "peer keys")
            expect(frame.get("role") == self.other, "peer frame about the wrong role")
            expect(frame.get("state") in {"joined", "present", "left"}, "peer state")
            expect(frame.get("page") == self.peer_page, "peer frame with the wrong page")
        elif kind == "admitted":
            expect(keys == {"type"}, "admitted keys")
            expect(not self.admitted, "admitted twice")
        elif kind in {"offer", "answer"}:
            expect(keys == {"type", "sdp", "from"}, f"{kind} keys")
            expect(frame.get("from") == self.other, f"{kind} not from the other side")
            expect(self.admitted, f"{kind} before admission")
            expect(isinstance(frame.get("sdp"), str), f"{kind} without SDP")
            # The clinician (impolite) offers; only the client receives offers.
            expect((kind == "offer") == self.polite, f"unexpected {kind}")
        elif kind == "candidate":
            expect(keys == {"type", "candidate", "from"}, "candidate keys")
            expect(frame.get("from") == self.other, "candidate not from the other side")
            expect(self.admitted, "candidate before admission")
            expect(self.end_of_candidates == 0, "candidate after end-of-candidates")
            candidate = frame.get("candidate")
            if candidate is not None:
                expect(
                    isinstance(candidate, dict) and set(candidate) == CANDIDATE_FIELDS,
                    "candidate fields",
                )
        elif kind == "state":
            expect("from" in keys, "state without from")
            expect(keys <= {"type", "from", "audio", "video", "connection"}, "state keys")
            expect(frame.get("from") == self.other, "state not from the other side")
            expect(frame.get("connection", "new") in CONNECTION_STATES, "connection state")
        elif kind == "bye":
            expect(keys == {"type", "from"}, "bye keys")
            expect(frame.get("from") == self.other, "bye not from the other side")
        else:
            expect(False, "unexpected frame")

    async def _handle(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind == "peer":
            self.peer_present = frame["state"] != "left"
            self.peer_left = frame["state"] == "left"
            if self.peer_present and self.admitted:
                await self._negotiate()
        elif kind == "admitted":
            self.admitted = True
            if self.peer_present:
                await self._negotiate()
        elif kind in {"offer", "answer"}:
            self.descriptions.append(kind)
            await self._on_description(kind, frame["sdp"])
        elif kind == "candidate":
            await self._on_candidate(frame["candidate"])
        elif kind == "state":
            if "connection" in frame:
                self.peer_states.append(frame["connection"])
        elif kind == "bye":
            self.bye = True
            await self._close_peer_connection()

    # --- The call --------------------------------------------------------------------------

    def _ensure_peer_connection(self) -> RTCPeerConnection:
        if self.pc is not None:
            return self.pc
        # No ICE servers: host candidates only, so the call stays on this machine.
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTrack(self.track)
        pc.on("track", self._on_track)

        def on_connection_state() -> None:
            state = pc.connectionState
            self.connection_states.append(state)
            self._touch()
            if self.pc is pc and not self.leaving:
                self._spawn(self.send({"type": "state", "connection": state}), "state")

        pc.on("connectionstatechange", on_connection_state)
        self.pc = pc
        return pc

    async def _negotiate(self) -> None:
        """The impolite side offers once both are present and the client is admitted."""
        if self.polite or self.pc is not None:
            return
        pc = self._ensure_peer_connection()
        await pc.setLocalDescription()
        await self.send({"type": pc.localDescription.type, "sdp": pc.localDescription.sdp})
        await self._send_candidates(pc)

    async def _on_description(self, kind: str, sdp: str) -> None:
        pc = self._ensure_peer_connection()
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=kind))
        if kind == "offer":
            await pc.setLocalDescription()
            await self.send({"type": pc.localDescription.type, "sdp": pc.localDescription.sdp})
            await self._send_candidates(pc)

    async def _send_candidates(self, pc: RTCPeerConnection) -> None:
        for candidate in sdp_candidates(pc.localDescription.sdp):
            self.sent_candidates.append(candidate)
            await self.send({"type": "candidate", "candidate": candidate})
        await self.send({"type": "candidate", "candidate": None})

    async def _on_candidate(self, candidate: dict[str, Any] | None) -> None:
        pc = self.pc
        if pc is None or pc.remoteDescription is None:
            self._problem("a candidate before the description it belongs to")
            return
        if candidate is None:
            self.end_of_candidates += 1
            await pc.addIceCandidate(None)
            return
        self.candidates.append(candidate)
        remote = pc.remoteDescription.sdp
        # It must be one the description already carried, relayed unchanged.
        if f"a={candidate['candidate']}" not in remote.splitlines():
            self._problem(f"a candidate the remote description does not carry: {candidate}")
        if candidate not in sdp_candidates(remote):
            self._problem(f"a candidate that does not match the description: {candidate}")
        ice = candidate_from_sdp(candidate["candidate"].removeprefix("candidate:"))
        ice.sdpMid, ice.sdpMLineIndex = candidate["sdpMid"], candidate["sdpMLineIndex"]
        await pc.addIceCandidate(ice)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind != "video":
            self._problem(f"an unexpected {track.kind} track")
            return
        self._spawn(self._receive(track), "receive video")

    async def _receive(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self.video.add(frame)
            self._touch()

    def _spawn(self, coroutine: Any, what: str) -> None:
        task = asyncio.create_task(coroutine, name=f"{self.role} {what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_peer_connection(self) -> None:
        pc, self.pc = self.pc, None
        if pc is not None:
            await pc.close()
        self.track.stop()

    # --- Leaving ---------------------------------------------------------------------------

    async def leave(self, *, timeout: float = 10) -> None:
        """As the page's "Leave" button: bye, close the call, close the socket normally."""
        assert self.ws is not None
        assert self._reader is not None
        self.leaving = True
        await self.send({"type": "bye"})
        await self._close_peer_connection()
        await asyncio.wait_for(self.ws.close(), timeout)
        await asyncio.wait_for(self._reader, timeout)
        if self._tasks:
            await asyncio.wait_for(asyncio.gather(*self._tasks), timeout)

    async def abort(self) -> None:
        """After a failure: close whatever is still open, so nothing outlives the test."""
        self.leaving = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._close_peer_connection(), 5)
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 5)
        for task in [self._reader, *self._tasks]:
            if task is not None:
                task.cancel()


def _short(frame: Any) -> str:
    if isinstance(frame, dict) and isinstance(frame.get("sdp"), str):
        frame = {**frame, "sdp": f"<{len(frame['sdp'])} chars>"}
    return json.dumps(frame)
