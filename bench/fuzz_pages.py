"""Page and form fuzz: the suite's fuzz test (tests/test_page_fuzz.py) with more rounds, and its
figures printed: requests sent per kind of visitor, answers by status, 5xx count, refused
writes checked, and every problem found.

Run from the checkout, with PostgreSQL and Redis as for the tests:

    .venv/bin/python bench/fuzz_pages.py              # 16 rounds: every field gets every value
    .venv/bin/python bench/fuzz_pages.py --rounds 4   # as the test suite runs it

Its database is ``telehealth_bench_fuzz`` on the server of DATABASE_URL (pytest creates and drops
``test_telehealth_bench_fuzz``), its Redis database 12 (``BENCH_REDIS_URL`` to change it), which
the test empties (the rate-limit cache) before each visitor. See docs/benchmarks.md ("Page and
form fuzz").
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.page_fuzz import HOSTILE  # noqa: E402

# Every hostile value (and the invalid UTF-8 one) reaches every field once the rounds go round.
EVERY_VALUE_ROUNDS = len(HOSTILE) + 2


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=EVERY_VALUE_ROUNDS)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        report_path = Path(directory) / "fuzz.jsonl"
        server = urllib.parse.urlsplit(
            os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/telehealth")
        )
        database_url = server._replace(path="/telehealth_bench_fuzz").geturl()
        environment = {
            **os.environ,
            "DATABASE_URL": database_url,
            "TEST_DATABASE_URL": database_url,
            "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12"),
            "PAGE_FUZZ_ROUNDS": str(arguments.rounds),
            "PAGE_FUZZ_REPORT": str(report_path),
        }
        started = time.monotonic()
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "tests/test_page_fuzz.py",
                "-q",
                "-p",
                "no:cacheprovider",
                "--create-db",
                "--show-capture=no",
            ],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
        )
        seconds = time.monotonic() - started
        roles = [json.loads(line) for line in report_path.read_text().splitlines()]

    print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}; Python {platform.python_version()}")
    print(f"rounds: {arguments.rounds}; {seconds:.0f} s in all (six database set-ups included)")
    print()
    print(f"{'visitor':<16} {'requests':>8} {'5xx':>4} {'refused writes':>14}  statuses")
    total: Counter = Counter()
    for role in roles:
        statuses = ", ".join(f"{status}: {count}" for status, count in role["statuses"].items())
        print(
            f"{role['role']:<16} {role['requests']:>8} {role['server_errors']:>4} "
            f"{role['refused_writes']:>14}  {statuses}"
        )
        total.update({int(status): count for status, count in role["statuses"].items()})
    requests = sum(role["requests"] for role in roles)
    server_errors = sum(role["server_errors"] for role in roles)
    refused = sum(role["refused_writes"] for role in roles)
    print(
        f"{'all':<16} {requests:>8} {server_errors:>4} {refused:>14}  "
        + ", ".join(f"{status}: {count}" for status, count in sorted(total.items()))
    )
    problems = [problem for role in roles for problem in role["problems"]]
    print(f"\nproblems: {len(problems)}")
    for problem in problems[:50]:
        print(f"  {problem}")
    if result.returncode != 0 and not problems:
        print(result.stdout[-3000:], result.stderr[-3000:])
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
