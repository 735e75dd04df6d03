"""`celery -A telehealth beat` as production starts it: it creates the directory of its schedule
if nothing did, or refuses to start saying what to fix; and /healthz/beat tells a monitor
when beat stopped sending the sweeps that send reminders."""

import datetime as dt
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import time_machine
from django.test import Client as HttpClient

from tests.celery_worker import CELERY, PROJECT_DIR, CeleryWorker, database_url
from tests.smtp import SMTPServer
from tests.test_settings import SECURE

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def start_beat(
    settings, smtp_server: SMTPServer, tmp_path: Path
) -> Iterator[Callable[[Path], subprocess.Popen[bytes]]]:
    """``start_beat(var_dir)``: beat in production mode, with PostgreSQL and Redis, on this test
    process's queues, keeping its schedule under ``var_dir``. Its output goes to beat.log."""
    processes: list[subprocess.Popen[bytes]] = []
    log_path = tmp_path / "beat.log"
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "TELEHEALTH_", "CELERY_"))
    }

    def start(var_dir: Path) -> subprocess.Popen[bytes]:
        env = {
            **inherited,
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "telehealth.settings",
            **SECURE,  # production mode with safe settings
            "DATABASE_URL": database_url(settings.DATABASES["default"]),
            "REDIS_URL": os.environ["REDIS_URL"],
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(smtp_server.port),
            "CELERY_TASK_DEFAULT_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
            "TELEHEALTH_VAR_DIR": str(var_dir),
        }
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [str(CELERY), "-A", "telehealth", "beat", "--loglevel=INFO"],
                cwd=PROJECT_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    print(f"--- beat.log ---\n{beat_log(tmp_path)}")


def beat_log(tmp_path: Path) -> str:
    path = tmp_path / "beat.log"
    return path.read_text(errors="replace") if path.exists() else ""


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=20)


def test_beat_creates_its_missing_directory_and_sends_the_reminder_sweeps(
    start_beat, make_worker: Callable[..., CeleryWorker], tmp_path: Path
) -> None:
    monitor = HttpClient()
    before = monitor.get("/healthz/beat")
    assert before.status_code == 503
    assert "dispatch-reminders: last sent never" in before.text

    var_dir = tmp_path / "nothing-created-this" / "var"
    with make_worker("sweeps") as worker:
        beat = start_beat(var_dir)
        # Every entry runs every minute: the first sends come a minute after beat starts.
        deadline = time.monotonic() + 100
        sent = re.compile(r"Task assessments\.tasks\.dispatch_reminders\[[^\]]+\] succeeded")
        while not sent.search(worker.log()):
            assert beat.poll() is None, f"beat exited with {beat.returncode}"
            assert time.monotonic() < deadline, "no reminder sweep ran"
            time.sleep(0.5)

    assert list(var_dir.glob("celerybeat-schedule*"))
    running = monitor.get("/healthz/beat")
    assert running.status_code == 200, running.text
    assert running.text.startswith("ok\n")
    assert "dispatch-reminders: last sent 20" in running.text

    # Beat goes down: three minutes later the monitor sees it.
    stop(beat)
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=3, seconds=10)):
        down = monitor.get("/healthz/beat")
    assert down.status_code == 503
    assert down.text.startswith("late: ")
    assert "dispatch-reminders" in down.text.splitlines()[0]


def test_beat_refuses_to_start_where_it_cannot_keep_its_schedule(start_beat, tmp_path) -> None:
    # A file where the directory should be: even root cannot create it.
    blocker = tmp_path / "a-file"
    blocker.write_text("")

    beat = start_beat(blocker / "var")

    assert beat.wait(timeout=60) == 1
    log = beat_log(tmp_path)
    assert (
        f"Celery beat cannot keep its schedule in {blocker / 'var'} (Not a directory). "
        "Set TELEHEALTH_VAR_DIR to a directory this user can create or write to" in log
    )
    assert "Traceback" not in log
