"""Support code shared by the benchmark scripts in bench/.

A script imports this module after putting the checkout on sys.path and before Django is set
up: nothing here imports a model, and ``set_up_django`` is what sets Django up. What only
differs in value between the scripts (their environment, the Redis database number each may
empty) comes in as a parameter; what works differently in one script (the precision of its
``ms``, its CPU meter, its machine description) stays in that script.
"""

import importlib.metadata
import json
import math
import os
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import django
import psycopg
import redis
from django.conf import settings
from django.db import connection
from psycopg import sql as pg_sql

ROOT = Path(__file__).resolve().parent.parent

# Defaults every benchmark shares; a script adds its own database, Redis database and prefixes.
COMMON_ENVIRONMENT = {
    "DJANGO_SETTINGS_MODULE": "telehealth.settings",
    "DEBUG": "false",
    "LOG_LEVEL": "WARNING",  # no INFO line per Celery task or request in the printed results
}


def set_up_django(environment: dict[str, str]) -> None:
    """Set each variable of ``environment`` (and of COMMON_ENVIRONMENT) the shell has not set,
    then set Django up."""
    for name, value in {**COMMON_ENVIRONMENT, **environment}.items():
        os.environ.setdefault(name, value)
    # Dropped even when the shell sets them: production mode refuses to start on the benchmark's
    # insecure defaults, and a mail server named there must never get the benchmark's email.
    os.environ.pop("TELEHEALTH_MODE", None)
    os.environ.pop("EMAIL_HOST", None)
    django.setup()


# --- Figures ---------------------------------------------------------------------------------


def percentile(values: Iterable[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest value with ``fraction`` of the values at or below."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def mib(size: float) -> str:
    return f"{size / 1024 / 1024:.1f}"


def table(headers: list[str], rows: list[list[str]], *, text: tuple[int, ...] = (0,)) -> str:
    """A Markdown table; the ``text`` columns are aligned left, the others (numbers) right."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    for row in rows:
        cells = [
            str(c).ljust(w) if number in text else str(c).rjust(w)
            for number, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --- The script's own database and Redis database --------------------------------------------


def database_name() -> str:
    return str(settings.DATABASES["default"]["NAME"])


def check_database_is_ours() -> None:
    """Exit unless the database is PostgreSQL and its name says it is a benchmark's: the script
    drops and recreates it."""
    name = database_name()
    engine = settings.DATABASES["default"]["ENGINE"]
    if engine not in settings.POSTGRESQL_ENGINES:
        sys.exit(f"The benchmark needs PostgreSQL; DATABASE_URL points to {engine}.")
    if name == "telehealth" or name.startswith("test") or "bench" not in name:
        sys.exit(
            f"Refusing to use database {name!r}: the benchmark drops and recreates it, so it only "
            "runs against a database whose name contains 'bench'."
        )


def redis_db_number(url: str) -> int | None:
    if not url:
        return None
    path = urllib.parse.urlsplit(url).path.strip("/")
    return int(path) if path.isdigit() else 0


def check_services_are_ours(redis_db: int) -> None:
    """check_database_is_ours, and exit unless REDIS_URL is Redis database ``redis_db``, the one
    database the script may empty."""
    check_database_is_ours()
    if redis_db_number(settings.REDIS_URL) != redis_db:
        sys.exit(
            f"Refusing REDIS_URL {settings.REDIS_URL!r}: the benchmark empties its Redis "
            f"database, so it only runs on database {redis_db}."
        )


def admin_connection(dbname: str) -> psycopg.Connection:
    """An autocommit connection to ``dbname`` on the benchmark's server, outside Django."""
    db = settings.DATABASES["default"]
    params = {
        "host": db["HOST"] or None,
        "port": db["PORT"] or None,
        "user": db["USER"] or None,
        "password": db["PASSWORD"] or None,
        "dbname": dbname,
    }
    return psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True)


def recreate_database() -> None:
    """Drop and create the benchmark's own database, so every run starts from the migrations.

    Emptying the tables would not be enough while the initial migrations are still edited in
    place: an old schema would stay behind.
    """
    with admin_connection("postgres") as admin:
        name = pg_sql.Identifier(database_name())
        admin.execute(pg_sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        admin.execute(pg_sql.SQL("CREATE DATABASE {}").format(name))


def flush_redis(redis_db: int) -> None:
    """Empty Redis database ``redis_db``, the script's own (only that one: never FLUSHALL)."""
    assert redis_db_number(settings.REDIS_URL) == redis_db
    with redis.Redis.from_url(settings.REDIS_URL) as client:
        client.flushdb()


def redis_info() -> dict[str, Any]:
    with redis.Redis.from_url(settings.REDIS_URL) as client:
        return client.info("server")


def scalar(sql: str, params: list[Any] | None = None) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def database_url_for_server() -> str:
    """DATABASE_URL for a server process the script starts, pointing at the same database."""
    db = settings.DATABASES["default"]
    user = urllib.parse.quote(db.get("USER") or "", safe="")
    password = urllib.parse.quote(db.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else f"{user}@" if user else ""
    host = db.get("HOST") or "localhost"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}{host}{port}/{urllib.parse.quote(db['NAME'], safe='')}"


# --- The machine and the code a run's figures come from --------------------------------------


def code_version() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "code: unknown version"
    return f"code: commit {commit or 'unknown'}" + (" with uncommitted changes" if dirty else "")


def load_average() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def memory_total() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def package_versions(packages: Iterable[str]) -> str:
    return ", ".join(f"{package} {importlib.metadata.version(package)}" for package in packages)


# --- Measuring -------------------------------------------------------------------------------


class SqlTimer:
    """Adds up the time spent in SQL (sending, PostgreSQL's work, fetching) on the connection;
    with ``log``, also keeps each statement, its time and its row count."""

    def __init__(self, *, log: bool = False) -> None:
        self.seconds = 0.0
        self.log = log
        self.statements: list[tuple[str, float, int]] = []
        self._wrapper: Any = None

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            elapsed = time.perf_counter() - started
            self.seconds += elapsed
            if self.log:
                rows = getattr(context.get("cursor"), "rowcount", -1)
                self.statements.append((sql, elapsed, rows))

    def __enter__(self) -> "SqlTimer":
        self._wrapper = connection.execute_wrapper(self)
        self._wrapper.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._wrapper.__exit__(*exc)


def run_suite_test(
    test: str, *, database: str, marker: str, extra_env: dict[str, str]
) -> tuple[Any, int, float]:
    """Run one of the suite's tests as a benchmark: on the benchmark's own database (pytest makes
    ``test_<database>`` on the server of DATABASE_URL) and Redis 12 (``BENCH_REDIS_URL``), never
    the suite's or the app's. The test prints one line ``<marker> <json>``: returns that JSON
    (None if it printed none, after showing the end of the output), pytest's exit code and the
    seconds it took."""
    server = urllib.parse.urlsplit(
        os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/telehealth")
    )
    database_url = server._replace(path=f"/{database}").geturl()
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TEST_DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "TEST_REDIS_URL": redis_url,
        **extra_env,
    }
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "pytest", test, "-q", "-s", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    lines = [line for line in run.stdout.splitlines() if line.startswith(f"{marker} ")]
    if not lines:
        print(run.stdout[-5000:], run.stderr[-5000:], sep="\n")
        return None, run.returncode or 1, seconds
    return json.loads(lines[-1].removeprefix(f"{marker} ")), run.returncode, seconds
