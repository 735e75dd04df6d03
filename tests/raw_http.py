"""Many HTTP requests sent at the same moment over real sockets, as a crowd of browsers would.

Every request gets a TCP connection of its own, opened before the start (a few at a time, so
that the server's listen backlog never overflows and no connection waits for a SYN retry);
then all requests are written at once and each answer is read to its end. Used by the booking
race in the test suite and by ``bench/booking.py``.
"""

import asyncio
import secrets
import string
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class Answer:
    """``status`` 0 when no complete answer came (``error`` says why); ``seconds`` from writing
    the request to reading the answer's last byte."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    seconds: float
    error: str = ""

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


def form_post(
    path: str,
    fields: Mapping[str, Any],
    *,
    headers: Mapping[str, str] | None = None,
    cookies: Mapping[str, str] | None = None,
) -> Request:
    """A form POST as a browser that loaded the form sends it: a CSRF cookie of its own and the
    same secret as the form's token (Django accepts the unmasked secret)."""
    token = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))
    cookie = "; ".join(f"{k}={v}" for k, v in {"csrftoken": token, **(cookies or {})}.items())
    return Request(
        "POST",
        path,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": cookie,
            **(headers or {}),
        },
        body=urlencode({"csrfmiddlewaretoken": token, **fields}, doseq=True).encode(),
    )


def _request_bytes(request: Request, host: str) -> bytes:
    headers = {
        "Host": host,
        "Connection": "close",
        "Content-Length": str(len(request.body)),
        **request.headers,
    }
    head = f"{request.method} {request.path} HTTP/1.1\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in headers.items()
    )
    return head.encode("latin-1") + b"\r\n" + request.body


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("the server closed the connection without answering")
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while size := int((await reader.readline()).split(b";")[0], 16):
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        await reader.readline()
        return status, headers, b"".join(chunks)
    if "content-length" in headers:
        return status, headers, await reader.readexactly(int(headers["content-length"]))
    return status, headers, await reader.read()


async def _send_all(
    host: str,
    port: int,
    requests: Sequence[Request],
    *,
    connect_at_once: int,
    timeout: float,
) -> list[Answer]:
    opening = asyncio.Semaphore(connect_at_once)
    start = asyncio.Event()

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        async with opening:
            return await asyncio.wait_for(asyncio.open_connection(host, port), timeout)

    connections = await asyncio.gather(*(connect() for _ in requests))

    async def exchange(
        request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Answer:
        await start.wait()
        began = time.monotonic()
        try:
            writer.write(_request_bytes(request, f"{host}:{port}"))
            await writer.drain()
            status, headers, body = await asyncio.wait_for(_read_answer(reader), timeout)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as error:
            return Answer(0, {}, b"", time.monotonic() - began, f"{type(error).__name__}: {error}")
        finally:
            writer.close()
        return Answer(status, headers, body, time.monotonic() - began)

    tasks = [
        asyncio.create_task(exchange(request, reader, writer))
        for request, (reader, writer) in zip(requests, connections, strict=True)
    ]
    await asyncio.sleep(0)  # every task is waiting at the start line
    start.set()
    return list(await asyncio.gather(*tasks))


def send_at_once(
    host: str,
    port: int,
    requests: Sequence[Request],
    *,
    connect_at_once: int = 50,
    timeout: float = 120,
) -> list[Answer]:
    """Open a connection for each request, then send them all at the same moment; the answers
    in the order of ``requests``."""
    return asyncio.run(
        _send_all(host, port, requests, connect_at_once=connect_at_once, timeout=timeout)
    )
