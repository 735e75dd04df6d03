"""The quick start runs on SQLite, which has no exclusion constraints: the rule still holds."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_simultaneous_bookings_on_sqlite_make_exactly_one_appointment(tmp_path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env["TELEHEALTH_VAR_DIR"] = str(tmp_path)

    result = subprocess.run(
        [sys.executable, "-m", "tests.sessions.sqlite_race", "8"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "booked=1 refused=7 errors=0 rows=1", (
        result.stdout
    )
