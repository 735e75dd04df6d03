"""Hostile frames against both sockets of a call, through daphne, as each role.

Runs the suite's fuzz test (tests/assessments/test_sockets_daphne.py, which starts daphne on
a test database and this machine's Redis) with more frames, and prints what came back:
frames sent, error frames, closes by code, server errors and tracebacks in daphne's log.

    .venv/bin/python bench/fuzz_sockets.py [--frames 2000] [--seed 20261207]

Its database is ``telehealth_bench_sockets`` on the server of DATABASE_URL (pytest creates and
drops ``test_telehealth_bench_sockets``) and its Redis database 12 (``BENCH_REDIS_URL`` to change
it), as every benchmark's: never the suite's or the app's.
Results: docs/benchmarks.md, "Socket fuzz".
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
    "tests/assessments/test_sockets_daphne.py::"
    "test_hostile_frames_close_no_socket_and_raise_no_error_on_either_socket"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000, help="hostile frames per socket")
    parser.add_argument("--seed", type=int, default=20261207)
    options = parser.parse_args()
    server = urllib.parse.urlsplit(
        os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/telehealth")
    )
    database_url = server._replace(path="/telehealth_bench_sockets").geturl()
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TEST_DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "TEST_REDIS_URL": redis_url,
        "FUZZ_FRAMES": str(options.frames),
        "FUZZ_SEED": str(options.seed),
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
    lines = [line for line in run.stdout.splitlines() if line.startswith("FUZZ-RESULT ")]
    if not lines:
        print(run.stdout[-5000:], run.stderr[-5000:], sep="\n")
        return 1
    result = json.loads(lines[-1].removeprefix("FUZZ-RESULT "))
    tracebacks = result.pop("tracebacks")
    print(f"{options.frames} hostile frames per socket, seed {options.seed}, {seconds:.0f} s")
    print(f"{'socket':<20} {'sent':>6} {'errors':>7} {'closes':>10} {'server_error':>13}")
    for name, tally in result.items():
        closes = ", ".join(f"{code}: {n}" for code, n in tally["closes"].items()) or "none"
        print(
            f"{name:<20} {tally['sent']:>6} {tally['error_frames']:>7} {closes:>10} "
            f"{tally['server_errors']:>13}"
        )
        codes = ", ".join(f"{code} {n}" for code, n in sorted(tally["error_codes"].items()))
        print(f"{'':<20} error codes: {codes}")
    print(f"tracebacks in daphne's log: {tracebacks}")
    print("test:", "passed" if run.returncode == 0 else "FAILED")
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
