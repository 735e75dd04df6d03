"""A real Celery worker in a subprocess, for tests whose tasks must leave the test process.

Usage::

    worker = CeleryWorker(queue="telehealth-test-gw0", env={...}, log_path=tmp_path / "w.log")
    with worker:  # starts it (purging its queues first) and waits until it is ready
        ...
        worker.wait_for_log("succeeded")
    # stopped here: warm shutdown, then SIGKILL if it does not go

``kill()`` ends the worker the hard way (SIGKILL, no shutdown), for tests of what happens to
tasks a crashed worker had taken; ``start(purge=False)`` then brings up a successor that sees
what the broker kept.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

PROJECT_DIR = Path(__file__).resolve().parent.parent
# The celery script installed next to the interpreter running the tests (.venv/bin/celery).
CELERY = Path(sys.executable).with_name("celery")

_SCHEMES = {
    "django.db.backends.postgresql": "postgres",
    "telehealth.postgresql": "postgres",
    "django.db.backends.sqlite3": "sqlite",
}


def database_url(database: Mapping[str, Any]) -> str:
    """A DATABASE_URL (as dj-database-url reads it) for one entry of ``settings.DATABASES``.

    Build it after pytest-django created the test database, whose name the entry then holds,
    so that a worker process works on the same database as the test.
    """
    scheme = _SCHEMES.get(database["ENGINE"])
    if scheme is None:
        raise ValueError(f"no DATABASE_URL scheme for {database['ENGINE']}")
    if scheme == "sqlite":
        return f"sqlite:///{database['NAME']}"
    user = quote(database.get("USER") or "", safe="")
    password = quote(database.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else f"{user}@" if user else ""
    host = database.get("HOST") or "localhost"
    port = f":{database['PORT']}" if database.get("PORT") else ""
    return f"{scheme}://{credentials}{host}{port}/{quote(str(database['NAME']), safe='')}"


class CeleryWorkerError(RuntimeError):
    pass


class CeleryWorker:
    """One ``celery worker --pool=solo`` (or prefork) process whose default queue is ``queue``.

    It is started without -Q, as a production worker may be: it consumes every queue the
    settings declare for that default queue (CELERY_TASK_QUEUES: the queue itself and its
    reminder queue), so a test sees reminders sent the way such a worker sends them. ``env`` is
    laid over the test process's environment. Output goes to ``log_path``, which ``log()``
    reads back (tests print it when they fail).
    """

    def __init__(
        self,
        *,
        queue: str,
        env: Mapping[str, str],
        log_path: Path,
        app: str = "telehealth",
        loglevel: str = "INFO",
        extra_args: Sequence[str] = (),
        pool: str = "solo",
    ) -> None:
        """``pool="prefork"`` runs tasks in one child process (``pool_children()``), as
        production workers do, for tests that kill the child running a task."""
        self.queue = queue
        self.pool = pool
        self.env = dict(env)
        self.log_path = log_path
        self.app = app
        self.loglevel = loglevel
        self.extra_args = tuple(extra_args)
        # Unique per start, so that "ready" in the log is this process's own.
        self.node_name = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._starts = 0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self, *, purge: bool) -> list[str]:
        return [
            str(CELERY),
            "-A",
            self.app,
            "worker",
            f"--pool={self.pool}",
            *(["--concurrency=1"] if self.pool == "prefork" else []),
            f"--loglevel={self.loglevel}",
            "-n",
            self.node_name,
            # No waiting for, or chatting with, other workers: this one is alone on its queues.
            "--without-mingle",
            "--without-gossip",
            *(["--purge"] if purge else []),
            *self.extra_args,
        ]

    def start(self, *, purge: bool = True, timeout: float = 30) -> None:
        """Start the worker and return once it consumes; ``purge`` empties its queues first."""
        if self.running:
            raise CeleryWorkerError("the worker is already running")
        self._starts += 1
        # Unique per worker object and start: "ready." in a kept log must be this one's.
        self.node_name = f"{self.queue}-{os.getpid()}-{id(self):x}-{self._starts}@%h"
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            **self.env,
            "CELERY_TASK_DEFAULT_QUEUE": self.queue,
        }
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.command(purge=purge),
                cwd=PROJECT_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own process group, so that stop() can take down anything it spawned.
                start_new_session=True,
            )
        try:
            self._wait_until_ready(timeout)
        except BaseException:
            self.kill()
            raise

    def _wait_until_ready(self, timeout: float) -> None:
        # The worker logs "<node name> ready." once it consumes from its queues.
        marker = self.node_name.split("@", 1)[0]
        deadline = time.monotonic() + timeout
        while True:
            log = self.log()
            if any(
                marker in line and line.rstrip().endswith("ready.") for line in log.splitlines()
            ):
                return
            assert self._process is not None
            if self._process.poll() is not None:
                raise CeleryWorkerError(
                    f"the Celery worker exited with {self._process.returncode} before it was "
                    f"ready:\n{log}"
                )
            if time.monotonic() > deadline:
                raise CeleryWorkerError(f"the Celery worker was not ready in {timeout}s:\n{log}")
            time.sleep(0.1)

    def pool_children(self) -> list[int]:
        """The pids of the worker's pool processes (prefork), from /proc."""
        if self._process is None:
            return []
        children: list[int] = []
        for task in Path(f"/proc/{self._process.pid}/task").iterdir():
            children.extend(int(pid) for pid in (task / "children").read_text().split())
        return children

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, text: str, *, count: int = 1, timeout: float = 20) -> str:
        """The log once ``text`` occurs ``count`` times in it."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.log()
            if log.count(text) >= count:
                return log
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"expected {text!r} {count} times in the worker log, "
                    f"found {log.count(text)}:\n{log}"
                )
            time.sleep(0.1)

    def stop(self, *, timeout: float = 15) -> None:
        """Warm shutdown (SIGTERM: finish the current task, then exit); SIGKILL if it hangs."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        self._process = None

    def kill(self) -> None:
        """End the worker at once, as a crash would: no shutdown, tasks it held stay unacked."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            # Only while the worker is alive (not yet reaped), so its pid still names the
            # process group this object created and cannot have been reused.
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        self._process = None

    def __enter__(self) -> "CeleryWorker":
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
