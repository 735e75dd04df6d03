"""scripts/demo keeps everything it writes under TELEHEALTH_VAR_DIR, and installs camera
measurement unless asked not to."""

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


def run_demo_with_stubs(tmp_path: Path, **environment: str) -> list[str]:
    """scripts/demo as written, in a copy of the checkout whose installer and programs are
    stubs that only write down how they were called."""
    (tmp_path / "scripts").mkdir(parents=True)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    demo = tmp_path / "scripts" / "demo"
    demo.write_text(DEMO.read_text())
    calls = tmp_path / "calls"
    for stub in ("scripts/install", ".venv/bin/python", ".venv/bin/celery"):
        path = tmp_path / stub
        path.write_text(f'#!/usr/bin/env bash\necho "{stub} $*" >> "{calls}"\n')
        path.chmod(0o755)
    demo.chmod(0o755)
    subprocess.run(
        [str(demo)],
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], **environment},
        check=True,
        timeout=60,
        capture_output=True,
    )
    return calls.read_text().splitlines()


def test_the_demo_installs_camera_measurement_unless_asked_not_to(tmp_path) -> None:
    calls = run_demo_with_stubs(tmp_path / "camera")
    assert calls[0] == "scripts/install vision"
    assert "manage.py runserver 127.0.0.1:8000" in calls[-1]
    calls = run_demo_with_stubs(tmp_path / "no-camera", DEMO_CAMERA="off")
    assert calls[0] == "scripts/install "
