"""Hostile frames for the call's sockets, sent by a real WebSocket client to a real server.

Used by the suite (tests/assessments/test_sockets_daphne.py) and by bench/fuzz_sockets.py.
Each hostile frame is followed by a valid one (the probe) whose answer must come: a socket
that closed or stopped answering fails. What came back is counted.
"""

import asyncio
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from telehealth.frames import FrameError, frame_parse

TIMEOUT = 10
ASSESSMENT_TYPES = ["set", "step", "measure", "accept"]
ROOM_TYPES = ["offer", "answer", "candidate", "chat", "state", "bye", "media"]
KNOWN_TYPES = [*ASSESSMENT_TYPES, *ROOM_TYPES]
FIELDS = ["id", "key", "value", "base", "protocol", "action", "body", "sdp", "end", "candidate"]


KINDS = ["json", "object", "deep", "deep-field", "huge", "nul", "bad-type", "action", "binary"]
KINDS.append("text")


def _scalar(rng: random.Random) -> Any:
    return rng.choice(
        [
            None,
            True,
            False,
            rng.randint(-(2**70), 2**70),
            rng.random() * 1e300,
            "",
            "\x00",
            "a\x00b",
            "x" * rng.randint(0, 3000),
            "faber.left.1.pain",
            "lunge",
            "start",
            "explode",
            "8d5e9ad4-7ad7-4b62-9d0e-3c3b5d6bb0a1",
            "".join(chr(rng.randint(1, 0xD7FF)) for _ in range(rng.randint(1, 30))),
        ]
    )


def _json(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 4 or roll < 0.5:
        return _scalar(rng)
    if roll < 0.75:
        return [_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {
        rng.choice([*FIELDS, "type", "", "\x00"]): _json(rng, depth + 1)
        for _ in range(rng.randint(0, 4))
    }


def hostile_frame(rng: random.Random) -> tuple[str, str | bytes]:
    """(kind, frame): a text frame (str) or a binary one (bytes)."""
    kind = rng.choice(KINDS)
    if kind == "json":
        return kind, json.dumps(_json(rng))
    if kind == "object":
        frame = {"type": rng.choice([*KNOWN_TYPES, "", "error"])}
        frame.update({rng.choice(FIELDS): _json(rng) for _ in range(rng.randint(0, 4))})
        return kind, json.dumps(frame, ensure_ascii=rng.random() < 0.5)
    if kind == "deep":
        depth = rng.randint(900, 12_000)
        return kind, "[" * depth + ("]" * depth if rng.random() < 0.5 else "")
    if kind == "deep-field":
        depth = rng.randint(900, 5_000)
        nested = "[" * depth + "]" * depth
        return kind, '{"type": "' + rng.choice(KNOWN_TYPES) + '", "value": ' + nested + "}"
    if kind == "huge":
        size = rng.choice([15_000, 17_000, 60_000, 70_000, 500_000])
        key = rng.choice(["body", "value", "sdp", "notes"])
        return kind, json.dumps({"type": rng.choice(KNOWN_TYPES), key: "x" * size})
    if kind == "nul":
        key = rng.choice(["body", "value", "sdp", "protocol", "key"])
        return kind, json.dumps({"type": rng.choice(KNOWN_TYPES), key: "before\x00after"})
    if kind == "bad-type":
        return kind, json.dumps({"type": rng.choice([5, None, [], {}, ["set"], True, 1.5])})
    if kind == "action":
        frame = {"type": rng.choice(["measure", "media"]), "action": _json(rng)}
        return kind, json.dumps(frame)
    if kind == "binary":
        return kind, rng.randbytes(rng.randint(1, 2000))
    return kind, "".join(chr(rng.randint(1, 0xD7FF)) for _ in range(rng.randint(0, 200)))


@dataclass
class Tally:
    sent: int = 0
    error_frames: int = 0
    server_errors: int = 0
    # Hostile frames the shared parser refuses that got no error frame.
    unanswered: int = 0
    closes: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)
    error_codes: Counter = field(default_factory=Counter)

    def add(self, other: "Tally") -> None:
        self.sent += other.sent
        self.error_frames += other.error_frames
        self.server_errors += other.server_errors
        self.unanswered += other.unanswered
        self.closes.update(other.closes)
        self.kinds.update(other.kinds)
        self.error_codes.update(other.error_codes)


def refused(frame: str | bytes, max_bytes: int) -> bool:
    try:
        frame_parse(frame if isinstance(frame, str) else None, max_bytes=max_bytes)
    except FrameError:
        return True
    return False


async def fuzz(
    open_socket: Callable[[], Any],
    *,
    frames: int,
    seed: int,
    max_bytes: int,
    probe: dict[str, Any],
    answered: Callable[[dict[str, Any]], bool],
) -> Tally:
    """Send ``frames`` hostile frames, each followed by ``probe``; reopen after a close."""
    rng = random.Random(seed)
    tally = Tally()
    socket: ClientConnection = await open_socket()
    for _ in range(frames):
        kind, frame = hostile_frame(rng)
        tally.sent += 1
        tally.kinds[kind] += 1
        try:
            await socket.send(frame)
            await socket.send(json.dumps(probe))
            errors = []
            while True:
                answer = json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT))
                if answered(answer):
                    break
                if answer["type"] == "error":
                    errors.append(answer)
        except ConnectionClosed as closed:
            tally.closes[closed.rcvd.code if closed.rcvd else 1006] += 1
            socket = await open_socket()
            continue
        tally.error_frames += len(errors)
        tally.error_codes.update(error["code"] for error in errors)
        tally.server_errors += sum(error["code"] == "server_error" for error in errors)
        if refused(frame, max_bytes) and not errors:
            tally.unanswered += 1
    await socket.close()
    return tally
