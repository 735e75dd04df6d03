"""scripts/demo keeps everything it writes under TELEHEALTH_VAR_DIR."""

import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "scripts" / "demo"


def demo_worker_command() -> list[str]:
    """The Celery worker and beat command line exactly as scripts/demo runs it."""
    script = DEMO.read_text().replace("\\\n", " ")
    [line] = [line for line in script.splitlines() if line.startswith(".venv/bin/celery ")]
    return shlex.split(line.rstrip().removesuffix("&"))


def test_the_demo_worker_keeps_the_beat_schedule_in_the_var_dir(tmp_path) -> None:
    var_dir = tmp_path / "var"
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "EMAIL_HOST"}
        and not key.startswith(("DJANGO_", "TELEHEALTH_"))
    }
    worker = subprocess.Popen(
        demo_worker_command(),
        cwd=ROOT,
        env={**environment, "TELEHEALTH_VAR_DIR": str(var_dir)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not list(var_dir.glob("celerybeat-schedule*")) and time.monotonic() < deadline:
            assert worker.poll() is None, worker.stderr.read()
            time.sleep(0.2)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        if worker.stderr is not None:
            worker.stderr.close()

    assert list(var_dir.glob("celerybeat-schedule*")), "beat wrote no schedule in the var dir"
