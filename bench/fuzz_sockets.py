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
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import run_suite_test  # noqa: E402

TEST = (
    "tests/assessments/test_sockets_daphne.py::"
    "test_hostile_frames_close_no_socket_and_raise_no_error_on_either_socket"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000, help="hostile frames per socket")
    parser.add_argument("--seed", type=int, default=20261207)
    options = parser.parse_args()
    result, returncode, seconds = run_suite_test(
        TEST,
        database="telehealth_bench_sockets",
        marker="FUZZ-RESULT",
        extra_env={"FUZZ_FRAMES": str(options.frames), "FUZZ_SEED": str(options.seed)},
    )
    if result is None:
        return 1
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
    print("test:", "passed" if returncode == 0 else "FAILED")
    return returncode


if __name__ == "__main__":
    sys.exit(main())
