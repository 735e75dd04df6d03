"""A small TCP proxy in front of several web processes, for tests of what a page sees when a
process dies or a connection goes silent.

Each connection goes to the next process in turn (round-robin, no sticky sessions), skipping
those that refuse it, as a load balancer with a health check would. The test can cut every
connection (what a process crash or a dropped network looks like from outside) or stall them:
bytes stop flowing both ways and nothing is closed, as on a quiet Wi-Fi link or a stuck proxy.
Connections made after a stall flow normally.

It runs its own event loop in a thread, so that tests driving Playwright's sync API (which has
its own loop) can use it.
"""

import asyncio
import contextlib
import itertools
import threading
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar

from tests.smtp import free_port

T = TypeVar("T")
Steer = Callable[[bytes], int | None]


@dataclass
class Connection:
    backend: int
    # The first bytes the browser sent: the HTTP request line and headers.
    head: bytes
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    flowing: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False

    @property
    def websocket(self) -> bool:
        return b"upgrade: websocket" in self.head.lower()

    @property
    def path(self) -> str:
        return self.head.split(b" ", 2)[1].decode(errors="replace") if b" " in self.head else ""


class TcpProxy:
    def __init__(self, backends: Sequence[tuple[str, int]], *, host: str = "127.0.0.1") -> None:
        self.backends = list(backends)
        self.host = host
        self.port = free_port()
        self.connections: list[Connection] = []
        # Optional: the backend for a connection, from its first bytes (None: round-robin).
        self.steer: Steer | None = None
        # While set, every new connection is closed at once (no process reachable).
        self.refusing = False
        self._turn = itertools.count()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    def start(self) -> None:
        self._thread.start()
        self._call(self._start())

    def stop(self) -> None:
        if self._server is not None:
            self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def cut(self, connections: Sequence[Connection] | None = None) -> int:
        """Close every open connection (or those given) at once, both sides; returns how
        many."""
        return self._call(self._cut(connections))

    def stall(self) -> int:
        """Stop forwarding bytes on every open connection without closing any; returns how
        many. Bytes already read are held (and delivered on resume())."""
        return self._call(self._stall(stalled=True))

    def resume(self) -> int:
        return self._call(self._stall(stalled=False))

    def open_websockets(self) -> list[Connection]:
        return [c for c in list(self.connections) if c.websocket and not c.closed]

    # --- In the proxy's loop --------------------------------------------------------------

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)

    async def _stop(self) -> None:
        self._server.close()
        await self._cut()
        # Stalled pumps wait forever: end them, so the loop stops with nothing pending.
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _cut(self, connections: Sequence[Connection] | None = None) -> int:
        cut = 0
        for connection in self.connections if connections is None else connections:
            if connection.closed:
                continue
            cut += 1
            connection.closed = True
            for writer in connection.writers:
                writer.transport.abort()
        return cut

    async def _stall(self, *, stalled: bool) -> int:
        count = 0
        for connection in self.connections:
            if not connection.closed:
                count += 1
                (connection.flowing.clear if stalled else connection.flowing.set)()
        return count

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.read(65536)
        except ConnectionError:
            head = b""
        if not head:
            writer.close()
            return
        if self.refusing:
            writer.transport.abort()
            return
        first = self.steer(head) if self.steer else None
        if first is None:
            first = next(self._turn) % len(self.backends)
        for offset in range(len(self.backends)):
            index = (first + offset) % len(self.backends)
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.backends[index])
            except OSError:
                continue  # that process is down: the next one
            break
        else:
            writer.transport.abort()
            return
        connection = Connection(backend=index, head=head, writers=[writer, up_writer])
        connection.flowing.set()
        self.connections.append(connection)
        up_writer.write(head)
        await asyncio.gather(
            self._pump(reader, up_writer, connection), self._pump(up_reader, writer, connection)
        )

    async def _pump(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, connection: Connection
    ) -> None:
        try:
            while data := await source.read(65536):
                await connection.flowing.wait()
                if connection.closed:
                    break
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            # One side closed: close the other, as a proxy does.
            if not connection.closed and connection.flowing.is_set():
                connection.closed = True
                for writer in connection.writers:
                    with contextlib.suppress(Exception):
                        writer.close()

    def __enter__(self) -> "TcpProxy":
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
