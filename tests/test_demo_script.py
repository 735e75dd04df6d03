"""scripts/demo keeps everything it writes under TELEHEALTH_VAR_DIR, and installs camera
measurement unless asked not to."""

import os
import shlex
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.smtp import free_port

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
    # The worker starts in the background, so its line may come before or after the server's.
    assert any(call.endswith("manage.py runserver 127.0.0.1:8000") for call in calls), calls
    calls = run_demo_with_stubs(tmp_path / "no-camera", DEMO_CAMERA="off")
    assert calls[0] == "scripts/install "


def demo_server_environment(tmp_path: Path) -> dict[str, str]:
    """The environment scripts/demo starts the web server with (from a stubbed run)."""
    (tmp_path / "scripts").mkdir(parents=True)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    demo = tmp_path / "scripts" / "demo"
    demo.write_text(DEMO.read_text())
    demo.chmod(0o755)
    recorded = tmp_path / "runserver.env"
    for stub, script in (
        ("scripts/install", ""),
        (".venv/bin/celery", ""),
        (".venv/bin/python", f'if [ "$2" = runserver ]; then env -0 > "{recorded}"; fi\n'),
    ):
        path = tmp_path / stub
        path.write_text(f"#!/usr/bin/env bash\n{script}")
        path.chmod(0o755)
    subprocess.run(
        [str(demo)],
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"]},
        check=True,
        timeout=60,
        capture_output=True,
    )
    pairs = (entry.split("=", 1) for entry in recorded.read_text().split("\0") if entry)
    return dict(pairs)


def test_the_demo_shows_the_clinics_own_error_pages_and_serves_static_files(tmp_path) -> None:
    environment = demo_server_environment(tmp_path / "stubbed")
    port = free_port()
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/python"), "manage.py", "runserver", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env={**environment, "TELEHEALTH_VAR_DIR": str(tmp_path / "var")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )

    def get(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stderr.read()
            try:
                get("/healthz")
                break
            except OSError:
                assert time.monotonic() < deadline, "the demo's web server did not start"
                time.sleep(0.3)
        status, page = get("/no-such-page/")
        assert status == 404
        assert "<h1>Page not found</h1>" in page
        assert "URLconf" not in page  # not Django's debug page, which lists every URL
        status, stylesheet = get("/static/css/app.css")
        assert status == 200
        assert ".field" in stylesheet
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        if server.stderr is not None:
            server.stderr.close()
