"""The real ASGI server (daphne) in a subprocess, for tests that need WebSockets over TCP."""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from tests.smtp import free_port

PROJECT_DIR = Path(__file__).resolve().parent.parent
DAPHNE = Path(sys.executable).with_name("daphne")


class AsgiServerError(RuntimeError):
    pass


class AsgiServer:
    """``daphne telehealth.asgi:application`` on a free port; ``env`` is laid over ours."""

    def __init__(
        self,
        *,
        env: Mapping[str, str],
        log_path: Path,
        host: str = "127.0.0.1",
        probe_headers: Mapping[str, str] | None = None,
    ) -> None:
        """``probe_headers`` go with the health check that waits for the server to answer (in
        production mode a proxy's ``X-Forwarded-Proto``, or the answer is a redirect to https)."""
        self.env = dict(env)
        self.probe_headers = dict(probe_headers or {})
        self.log_path = log_path
        self.host = host
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Through "localhost", which browsers treat as a secure context."""
        return f"http://localhost:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self, *, timeout: float = 30) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [str(DAPHNE), "-b", self.host, "-p", str(self.port), "telehealth.asgi:application"],
                cwd=PROJECT_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                probe = urllib.request.Request(f"{self.url}/healthz", headers=self.probe_headers)  # noqa: S310
                with urllib.request.urlopen(probe, timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except OSError:
                pass
            if self._process.poll() is not None:
                raise AsgiServerError(
                    f"daphne exited with {self._process.returncode}:\n{self.log()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise AsgiServerError(f"daphne did not answer within {timeout}s:\n{self.log()}")
            time.sleep(0.1)

    def stop(self, *, timeout: float = 10) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self._process = None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> "AsgiServer":
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
