"""A private redis-server on a free port that a test may stop and start again (never the shared
Redis of the suite). ``scripts/test`` installs redis-server where it is missing."""

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from tests.smtp import free_port


class RedisServerError(RuntimeError):
    pass


def redis_server_binary() -> str:
    # Where scripts/test links it when only redis-tools is installed: beside this Python.
    candidates = (Path(sys.prefix) / "bin" / "redis-server", Path("/usr/bin/redis-server"))
    found = shutil.which("redis-server") or next(
        (str(path) for path in candidates if path.exists()), None
    )
    if found is None:
        raise RedisServerError(
            "redis-server is not installed: scripts/test installs it (Debian package redis-tools)"
        )
    return found


class RedisServer:
    """Without persistence: a stop loses everything in it, as a Redis restarted without
    ``appendonly`` does. ``start()`` again listens on the same port."""

    def __init__(self, *, log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def url(self, database: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{database}"

    def start(self, *, timeout: float = 10) -> None:
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    redis_server_binary(),
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self._process.poll() is not None:
                raise RedisServerError(f"redis-server exited:\n{self.log_path.read_text()}")
            if time.monotonic() > deadline:
                raise RedisServerError(f"redis-server did not answer in {timeout}s")
            time.sleep(0.05)

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as probe:
                probe.sendall(b"PING\r\n")
                return probe.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Gone at once, as a crash would be."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
            process.wait()
        self._process = None

    def __enter__(self) -> "RedisServer":
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
