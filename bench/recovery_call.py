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
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import run_suite_test  # noqa: E402

TEST = (
    "tests/e2e/test_recovery_call.py::"
    "test_the_room_socket_comes_back_after_a_kill_and_after_a_stall"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=5)
    options = parser.parse_args()
    result, returncode, seconds = run_suite_test(
        TEST,
        database="telehealth_bench_recovery_call",
        marker="RECOVERY-RESULT",
        extra_env={"RECOVERY_REPETITIONS": str(options.repetitions)},
    )
    if result is None:
        return 1
    print(f"{result['repetitions']} repetitions, {seconds:.0f} s")
    for name, key in (("process killed", "after_kill_s"), ("connection stalled", "after_stall_s")):
        times = ", ".join(f"{t:.2f}" for t in result[key])
        print(f"{name:<20} median {result['median_' + key]:.2f} s  ({times})")
    print("test:", "passed" if returncode == 0 else "FAILED")
    return returncode


if __name__ == "__main__":
    sys.exit(main())
