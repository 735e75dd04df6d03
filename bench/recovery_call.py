"""How fast a room's socket comes back: after the daphne process carrying it is killed, and
after its connection stalls (the page's heartbeat notices, then reconnects).

Runs the suite's measurement (tests/e2e/test_recovery_call.py: Chromium, a TCP proxy in front
of two daphne processes on one database and one Redis) with more repetitions, and prints each
time and the medians.

    .venv/bin/python bench/recovery_call.py [--repetitions 5]

Its database is ``telehealth_bench_recovery_call`` on the server of DATABASE_URL (pytest
creates and drops ``test_telehealth_bench_recovery_call``) and its Redis database 12
(``BENCH_REDIS_URL`` to change it), as every benchmark's: never the suite's or the app's.
Results: docs/benchmarks.md, "Recovery", "The call".
"""

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST = (
    "tests/e2e/test_recovery_call.py::"
    "test_the_room_socket_comes_back_after_a_kill_and_after_a_stall"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=5)
    options = parser.parse_args()
    server = urllib.parse.urlsplit(
        os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/telehealth")
    )
    database_url = server._replace(path="/telehealth_bench_recovery_call").geturl()
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TEST_DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "TEST_REDIS_URL": redis_url,
        "RECOVERY_REPETITIONS": str(options.repetitions),
    }
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "pytest", TEST, "-q", "-s", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    lines = [line for line in run.stdout.splitlines() if line.startswith("RECOVERY-RESULT ")]
    if not lines:
        print(run.stdout[-5000:], run.stderr[-5000:], sep="\n")
        return 1
    result = json.loads(lines[-1].removeprefix("RECOVERY-RESULT "))
    print(f"{result['repetitions']} repetitions, {seconds:.0f} s")
    for name, key in (("process killed", "after_kill_s"), ("connection stalled", "after_stall_s")):
        times = ", ".join(f"{t:.2f}" for t in result[key])
        print(f"{name:<20} median {result['median_' + key]:.2f} s  ({times})")
    print("test:", "passed" if run.returncode == 0 else "FAILED")
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
