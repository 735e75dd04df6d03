"""Booking benchmark: slot listing cost and a concurrent booking race, against real PostgreSQL.

Run from the checkout:

    .venv/bin/python bench/booking.py           # full run: 30 repetitions, 10 race rounds
    .venv/bin/python bench/booking.py --quick   # smoke run: 5 repetitions, 1 race round

It uses its own database (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/
telehealth_bench): at the start it drops and recreates that database and migrates it, so reruns
are repeatable. It refuses to run against a database whose name does not contain "bench".
Celery tasks run eagerly and email goes to Django's in-memory backend, so no broker or mail
server is needed. See docs/benchmarks.md for what is measured and how to read the figures.
"""

import argparse
import datetime as dt
import json
import math
import multiprocessing
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
import zoneinfo
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import (  # noqa: E402
    SqlTimer,
    check_database_is_ours,
    code_version,
    cpu_model,
    database_name,
    database_url_for_server,
    load_average,
    memory_total,
    percentile,
    recreate_database,
    scalar,
    set_up_django,
    table,
)

set_up_django(
    {
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/telehealth_bench",
        "REDIS_URL": "redis://127.0.0.1:6379/12",
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "CELERY_TASK_DEFAULT_QUEUE": "telehealth-bench",
        "TELEHEALTH_VAR_DIR": str(Path(tempfile.gettempdir()) / "telehealth-bench"),
    }
)

import django  # noqa: E402
import redis  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.core import mail  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import IntegrityError, connection, connections  # noqa: E402
from django.test import Client as HttpClient  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from clinic.audit import SYSTEM  # noqa: E402
from clinic.models import Client, Clinician, Profession, Role, User  # noqa: E402
from sessions.booking.selectors import days_window, slots_available  # noqa: E402
from sessions.booking.services import SlotUnavailable, appointment_book  # noqa: E402
from sessions.booking.slots import Slot, local_to_utc  # noqa: E402
from sessions.models import (  # noqa: E402
    Appointment,
    AppointmentStatus,
    Service,
    WeeklyHours,
)
from tests.asgi_server import AsgiServer  # noqa: E402
from tests.raw_http import Answer, Request, form_post, send_at_once  # noqa: E402

# Outgoing email goes nowhere: each process keeps it in memory (django.core.mail.outbox).
settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

ZONE_NAME = "Europe/London"
ZONE = zoneinfo.ZoneInfo(ZONE_NAME)
WORK_DAYS = range(5)  # Monday to Friday
WORK_HOURS = (dt.time(8), dt.time(18))
WEEKS = 8
SIZES = (0, 500, 5000)
# Inside the 8-week window at most this many hourly starts are booked (half of the 400).
IN_WINDOW = 200
CANCELLED_EVERY = 10  # every 10th generated appointment is a cancelled one
RACE_SLOTS = 20
RACE_PER_SLOT = 10
RACE_WORKERS = 40
BARRIER_TIMEOUT = 300.0
SEED = 20260101
# The race over HTTP: this many new clients at once for HTTP_TIMES free times of one clinician.
HTTP_ATTEMPTS = (300, 1000)
HTTP_TIMES = 10
# What the server of the HTTP race keeps in Redis database 12 (which signaling empties, so this
# script never does): its own queue and key prefixes, deleted at the start and the end.
HTTP_SERVER_PREFIX = "telehealth-bench-booking"


# --- Helpers ---------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def machine_description() -> list[str]:
    return [
        f"CPU: {cpu_model()} x {os.cpu_count()} (os.cpu_count)",
        f"RAM: {memory_total()}",
        f"PostgreSQL: {scalar('SHOW server_version')}, max_connections "
        f"{scalar('SHOW max_connections')}, deadlock_timeout {scalar('SHOW deadlock_timeout')}",
        f"Python {platform.python_version()}, Django {django.get_version()}",
        f"Database: {database_name()} on {settings.DATABASES['default']['HOST']}",
    ]


# --- Data ------------------------------------------------------------------------------------


def make_users(role: Role, prefix: str, count: int) -> list[User]:
    password = make_password(None)  # unusable, and cheap to share
    return User.objects.bulk_create(
        User(
            email=f"{prefix}{number}@bench.example.org",
            full_name=f"{prefix.title()} {number}",
            role=role,
            time_zone=ZONE_NAME,
            password=password,
        )
        for number in range(count)
    )


def make_clinicians(count: int) -> list[Clinician]:
    users = make_users(Role.CLINICIAN, "clinician", count)
    clinicians = Clinician.objects.bulk_create(
        Clinician(user=user, profession=Profession.PHYSIOTHERAPIST) for user in users
    )
    WeeklyHours.objects.bulk_create(
        WeeklyHours(clinician=c, weekday=day, starts_at=WORK_HOURS[0], ends_at=WORK_HOURS[1])
        for c in clinicians
        for day in WORK_DAYS
    )
    return clinicians


def make_clients(count: int) -> list[Client]:
    users = make_users(Role.CLIENT, "client", count)
    return Client.objects.bulk_create(Client(user=user) for user in users)


def hourly_starts(day: dt.date) -> list[dt.datetime]:
    """The on-the-hour session starts of a working day (08:00 to 17:00, London time)."""
    if day.weekday() not in WORK_DAYS:
        return []
    return [local_to_utc(day, dt.time(hour), ZONE) for hour in range(8, 18)]


def starts_walking(day: dt.date, step: int, count: int) -> list[dt.datetime]:
    """``count`` hourly starts on working days from ``day`` on, going forwards or backwards."""
    found: list[dt.datetime] = []
    while len(found) < count:
        hours = hourly_starts(day)
        found.extend(hours if step > 0 else reversed(hours))
        day += dt.timedelta(days=step)
    return found[:count]


def appointment_starts(size: int, first_day: dt.date, last_day: dt.date) -> list[dt.datetime]:
    """Where a clinician with ``size`` appointments has them, none overlapping.

    Inside the 8-week window a seeded random half of the hourly starts (the same ones for every
    size); the rest fill the hourly starts before the window (80%, nearest first: history) and
    after it (20%).
    """
    inside_all = [
        start
        for offset in range((last_day - first_day).days + 1)
        for start in hourly_starts(first_day + dt.timedelta(days=offset))
    ]
    inside = sorted(random.Random(SEED).sample(inside_all, min(size, IN_WINDOW)))
    rest = size - len(inside)
    after = rest // 5
    before = rest - after
    return [
        *starts_walking(first_day - dt.timedelta(days=1), -1, before),
        *inside,
        *starts_walking(last_day + dt.timedelta(days=1), 1, after),
    ]


def make_appointments(
    *,
    service: Service,
    clinician: Clinician,
    client: Client,
    starts: list[dt.datetime],
    now: dt.datetime,
) -> None:
    rows = []
    for number, starts_at in enumerate(starts):
        cancelled = number % CANCELLED_EVERY == CANCELLED_EVERY - 1
        rows.append(
            Appointment(
                service=service,
                clinician=clinician,
                client=client,
                **service.appointment_times(starts_at),
                status=AppointmentStatus.CANCELLED if cancelled else AppointmentStatus.CONFIRMED,
                cancelled_at=now if cancelled else None,
            )
        )
    Appointment.objects.bulk_create(rows, batch_size=1000)


# --- 1. Slot listing -------------------------------------------------------------------------


def measure_slot_listing(
    *,
    service: Service,
    clinicians: dict[int, Clinician],
    first_day: dt.date,
    last_day: dt.date,
    now: dt.datetime,
    repetitions: int,
) -> dict[int, dict[str, Any]]:
    window = days_window(first_day, last_day, ZONE)
    margin = service.duration + dt.timedelta(
        minutes=service.buffer_before_minutes + service.buffer_after_minutes
    )

    def listing(clinician: Clinician) -> list[Slot]:
        return slots_available(service=service, clinicians=[clinician], window=window, now=now)

    results: dict[int, dict[str, Any]] = {}
    for size, clinician in clinicians.items():
        listing(clinician)  # warm up
        with CaptureQueriesContext(connection) as queries:
            slots = listing(clinician)
        live_in_reach = Appointment.objects.filter(
            clinician=clinician,
            blocked_from__lt=window.end + margin,
            blocked_until__gt=window.start - margin,
        ).exclude(status=AppointmentStatus.CANCELLED)
        results[size] = {
            "appointments": Appointment.objects.filter(clinician=clinician).count(),
            "live_in_window": live_in_reach.count(),
            "queries": len(queries),
            "slots": len(slots),
            "times": [],
            "sql_times": [],
            "sql": [query["sql"] for query in queries.captured_queries],
        }

    # Sizes are interleaved, in a shuffled order each round, so that noise from other work
    # on the machine falls on all of them alike. Each round also makes one extra call with the
    # SQL timed, to see how much of the time is spent waiting for the database; those calls
    # are not in the timings.
    order = random.Random(SEED)
    for _ in range(repetitions):
        sizes = list(clinicians)
        order.shuffle(sizes)
        for size in sizes:
            started = time.perf_counter()
            listing(clinicians[size])
            results[size]["times"].append(time.perf_counter() - started)
            with SqlTimer() as sql:
                listing(clinicians[size])
            results[size]["sql_times"].append(sql.seconds)
    return results


def measure_slot_page(
    *,
    service: Service,
    clinicians: dict[int, Clinician],
    week: dt.date,
    repetitions: int,
) -> dict[int, dict[str, Any]]:
    browser = HttpClient()
    urls = {
        size: reverse("sessions:book_slots", args=[service.uuid, str(clinician.uuid)])
        + f"?week={week.isoformat()}"
        for size, clinician in clinicians.items()
    }

    def fetch(size: int) -> Any:
        response = browser.get(urls[size], headers={"HX-Request": "true"})
        if response.status_code != 200:
            raise RuntimeError(f"{urls[size]} answered {response.status_code}")
        return response

    results: dict[int, dict[str, Any]] = {}
    for size in clinicians:
        fetch(size)  # warm up
        with CaptureQueriesContext(connection) as queries:
            response = fetch(size)
        results[size] = {
            "queries": len(queries),
            "slots": response.content.decode().count('class="time"'),
            "bytes": len(response.content),
            "times": [],
        }
    order = random.Random(SEED + 1)
    for _ in range(repetitions):
        sizes = list(clinicians)
        order.shuffle(sizes)
        for size in sizes:
            started = time.perf_counter()
            fetch(size)
            results[size]["times"].append(time.perf_counter() - started)
    return results


def explain_appointments_query(sql: str) -> str:
    """How PostgreSQL ran the appointments query: plan nodes and rows it read then dropped."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}")
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):  # depends on how the driver decodes json
        plan = json.loads(plan)
    parts = []

    def walk(node: dict[str, Any]) -> None:
        label = node["Node Type"]
        if "Index Name" in node:
            label += f" on {node['Index Name']}"
        label += f": {node.get('Actual Rows', '?')} rows"
        removed = node.get("Rows Removed by Filter")
        if removed:
            label += f", {removed} read and dropped by filter"
        buffers = node.get("Shared Hit Blocks", 0) + node.get("Shared Read Blocks", 0)
        label += f", {buffers} buffers"
        parts.append(label)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return "; ".join(parts)


def print_ratios(results: dict[int, dict[str, Any]]) -> None:
    """Medians compared within this run: the noise of a shared machine cancels out best here."""
    medians = {size: statistics.median(result["times"]) for size, result in results.items()}
    pairs = [(SIZES[1], SIZES[0]), (SIZES[2], SIZES[0]), (SIZES[2], SIZES[1])]
    print(
        "   ratio of medians: "
        + ", ".join(f"{a} vs {b}: {medians[a] / medians[b]:.2f}x" for a, b in pairs)
    )


def report_slots(listing: dict[int, dict[str, Any]], page: dict[int, dict[str, Any]]) -> None:
    print()
    print(f"1a. slots_available(), one clinician, {WEEKS} weeks ({ZONE_NAME}, Mon-Fri 08-18)")
    rows = []
    for result in listing.values():
        rows.append(
            [
                str(result["appointments"]),
                str(result["live_in_window"]),
                str(result["slots"]),
                str(result["queries"]),
                ms(statistics.median(result["times"])),
                ms(percentile(result["times"], 0.95)),
                ms(statistics.median(result["sql_times"])),
                str(len(result["times"])),
            ]
        )
    print(
        table(
            [
                "appointments",
                "live in window",
                "free slots",
                "SQL queries",
                "median ms",
                "p95 ms",
                "median SQL ms",
                "runs",
            ],
            rows,
        )
    )
    print_ratios(listing)
    counts = {result["queries"] for result in listing.values()}
    print(
        "   SQL queries per listing: "
        + (f"{counts.pop()} at every size" if len(counts) == 1 else f"VARIES {sorted(counts)}")
    )
    print("   appointments query as PostgreSQL ran it (EXPLAIN ANALYZE):")
    for size, result in listing.items():
        appointment_sql = [sql for sql in result["sql"] if "virtual_sessions_appointment" in sql]
        if appointment_sql:
            print(f"     {size:>5}: {explain_appointments_query(appointment_sql[0])}")

    print()
    print("1b. GET /book/<service>/with/<clinician>/?week=... (htmx partial, one week)")
    rows = []
    for size, result in page.items():
        rows.append(
            [
                str(size),
                str(result["slots"]),
                str(result["queries"]),
                str(result["bytes"]),
                ms(statistics.median(result["times"])),
                ms(percentile(result["times"], 0.95)),
                str(len(result["times"])),
            ]
        )
    print(
        table(
            [
                "appointments",
                "free slots shown",
                "SQL queries",
                "bytes",
                "median ms",
                "p95 ms",
                "runs",
            ],
            rows,
        )
    )
    print_ratios(page)
    counts = {result["queries"] for result in page.values()}
    print(
        "   SQL queries per page: "
        + (f"{counts.pop()} at every size" if len(counts) == 1 else f"VARIES {sorted(counts)}")
    )


# --- 2. Booking race -------------------------------------------------------------------------


def spaced_slots(
    service: Service, clinician: Clinician, first_day: dt.date, count: int
) -> list[dt.datetime]:
    """``count`` free starts whose blocked ranges do not touch, so all of them can be booked."""
    window = days_window(first_day, first_day + dt.timedelta(weeks=WEEKS), ZONE)
    free = slots_available(
        service=service, clinicians=[clinician], window=window, now=timezone.now()
    )
    spacing = service.duration + dt.timedelta(
        minutes=service.buffer_before_minutes + service.buffer_after_minutes
    )
    chosen: list[dt.datetime] = []
    for slot in free:
        if not chosen or slot.starts_at >= chosen[-1] + spacing:
            chosen.append(slot.starts_at)
        if len(chosen) == count:
            return chosen
    raise RuntimeError(f"Only {len(chosen)} bookable slots, {count} needed")


def measure_single_bookings(
    *, service: Service, clinician: Clinician, client: Client, first_day: dt.date, count: int
) -> dict[str, Any]:
    """Bookings one after another in one process: the cost of a booking without contention."""
    starts = spaced_slots(service, clinician, first_day, count + 1)
    mail.outbox = []

    def book(starts_at: dt.datetime) -> None:
        appointment_book(
            service=service,
            clinician=clinician,
            client=client,
            starts_at=starts_at,
            actor=None,
            context=SYSTEM,
        )

    with CaptureQueriesContext(connection) as queries:
        book(starts[0])  # also the warm-up
    times = []
    for starts_at in starts[1:]:
        started = time.perf_counter()
        book(starts_at)
        times.append(time.perf_counter() - started)
    return {"queries": len(queries), "times": times, "emails": len(mail.outbox)}


def report_single_bookings(single: dict[str, Any]) -> None:
    print()
    print("2a. appointment_book(), one process, no contention (on_commit emails included)")
    print(
        table(
            ["bookings", "SQL queries per booking", "median ms", "p95 ms", "emails sent"],
            [
                [
                    str(len(single["times"]) + 1),
                    str(single["queries"]),
                    ms(statistics.median(single["times"])),
                    ms(percentile(single["times"], 0.95)),
                    str(single["emails"]),
                ]
            ],
        )
    )


def race_worker(
    number: int,
    plan: list[tuple[int, int, dt.datetime] | None],
    service_id: int,
    clinician_id: int,
    barrier: Any,
    results: Any,
) -> None:
    """One process: its own connection; one attempt (or none) per wave, released by the barrier."""
    # One plain connection, as one request holds while it books: no pool of its own in each of
    # the racing processes (40 pools would open more connections than the server allows).
    connection.settings_dict["OPTIONS"].pop("pool", None)
    attempts: list[dict[str, Any]] = []
    setup_error = ""
    service = clinician = None
    clients: dict[int, Client] = {}
    try:
        service = Service.objects.get(pk=service_id)
        clinician = Clinician.objects.select_related("user").get(pk=clinician_id)
        wanted = [step[1] for step in plan if step is not None]
        clients = {c.pk: c for c in Client.objects.select_related("user").filter(pk__in=wanted)}
        connection.ensure_connection()
    except Exception as error:
        setup_error = repr(error)
    mail.outbox = []
    for wave, step in enumerate(plan):
        barrier.wait(BARRIER_TIMEOUT)
        if step is None or setup_error:
            continue
        slot_number, client_id, starts_at = step
        outcome, detail, at_constraint = "booked", "", False
        started = time.monotonic()
        try:
            appointment_book(
                service=service,
                clinician=clinician,
                client=clients[client_id],
                starts_at=starts_at,
                actor=None,
                context=SYSTEM,
            )
        except SlotUnavailable as error:
            outcome = "lost"
            at_constraint = isinstance(error.__cause__, IntegrityError)
        except Exception as error:
            sqlstate = getattr(error.__cause__, "sqlstate", None) or "-"
            outcome, detail = "error", f"{type(error).__name__} (SQLSTATE {sqlstate}): {error}"
        attempts.append(
            {
                "wave": wave,
                "slot": slot_number,
                "outcome": outcome,
                "at_constraint": at_constraint,
                "detail": detail,
                "started": started,
                "ended": time.monotonic(),
            }
        )
    barrier.wait(BARRIER_TIMEOUT)
    results.put(
        {
            "worker": number,
            "setup_error": setup_error,
            "attempts": attempts,
            "emails": len(mail.outbox),
        }
    )
    connections.close_all()


def connection_budget() -> tuple[int, int, int]:
    maximum = int(scalar("SHOW max_connections"))
    reserved = int(scalar("SHOW superuser_reserved_connections"))
    in_use = int(
        scalar("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
    )
    return maximum, reserved, in_use


def run_race(
    *, service: Service, clinician: Clinician, clients: list[Client], slots: list[dt.datetime]
) -> dict[str, Any]:
    """One round: RACE_PER_SLOT attempts on each of ``slots``, from different clients."""
    attempts_total = len(slots) * RACE_PER_SLOT
    maximum, reserved, in_use = connection_budget()
    # Leave room for other people's tests on this machine: at most RACE_WORKERS connections,
    # never more than half of what is free, in whole groups of RACE_PER_SLOT so that all
    # attempts on one slot are released together.
    free = maximum - reserved - in_use
    workers = min(RACE_WORKERS, free // 2) // RACE_PER_SLOT * RACE_PER_SLOT
    if workers < RACE_PER_SLOT:
        sys.exit(f"Only {free} PostgreSQL connections free; the race needs {RACE_PER_SLOT * 2}.")
    waves = math.ceil(attempts_total / workers)

    # Attempt k: slot k // RACE_PER_SLOT, client k, wave k // workers, worker k % workers.
    plans: list[list[tuple[int, int, dt.datetime] | None]] = [
        [None] * waves for _ in range(workers)
    ]
    for k in range(attempts_total):
        slot_number = k // RACE_PER_SLOT
        plans[k % workers][k // workers] = (slot_number, clients[k].pk, slots[slot_number])

    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(workers + 1)
    results = context.Queue()
    # Children must not share the parent's connection, nor its pool's: a forked pool's sockets
    # and threads are the parent's, and the racers hung on them.
    connections.close_all()
    connection.close_pool()
    processes = [
        context.Process(
            target=race_worker,
            args=(number, plans[number], service.pk, clinician.pk, barrier, results),
        )
        for number in range(workers)
    ]
    for process in processes:
        process.start()
    barrier.wait(BARRIER_TIMEOUT)  # everyone connected and ready: wave 0 is released
    started = time.perf_counter()
    for _ in range(waves):
        barrier.wait(BARRIER_TIMEOUT)  # this wave finished, the next one is released
    wall = time.perf_counter() - started
    reports = [results.get(timeout=BARRIER_TIMEOUT) for _ in processes]
    for process in processes:
        process.join(BARRIER_TIMEOUT)

    attempts = [attempt for report in reports for attempt in report["attempts"]]
    # Most attempts in flight at one instant (time.monotonic is system-wide on Linux).
    events = sorted(
        [(a["started"], 1) for a in attempts] + [(a["ended"], -1) for a in attempts],
        key=lambda event: (event[0], event[1]),
    )
    in_flight = peak = 0
    for _, change in events:
        in_flight += change
        peak = max(peak, in_flight)
    # How close together a wave's attempts really started after the barrier let them go.
    spreads = []
    for wave in range(waves):
        starts = [a["started"] for a in attempts if a["wave"] == wave]
        if starts:
            spreads.append(max(starts) - min(starts))

    lost = [a for a in attempts if a["outcome"] == "lost"]
    errors = [a["detail"] for a in attempts if a["outcome"] == "error"]
    errors += [r["setup_error"] for r in reports if r["setup_error"]]
    connection.ensure_connection()
    stored = Counter(
        Appointment.objects.filter(
            clinician=clinician, status=AppointmentStatus.CONFIRMED, starts_at__in=slots
        ).values_list("starts_at", flat=True)
    )
    return {
        "workers": workers,
        "waves": waves,
        "max_connections": maximum,
        "reserved": reserved,
        "in_use_before": in_use,
        "attempts": len(attempts),
        "booked": sum(1 for a in attempts if a["outcome"] == "booked"),
        "lost": len(lost),
        "lost_at_constraint": sum(1 for a in lost if a["at_constraint"]),
        "errors": errors,
        "slots_booked_once": sum(1 for slot in slots if stored[slot] == 1),
        "double": scalar(DOUBLE_BOOKINGS_SQL),
        "emails": sum(report["emails"] for report in reports),
        "wall": wall,
        "peak_in_flight": peak,
        "release_spread": spreads,
        "attempt_times": [a["ended"] - a["started"] for a in attempts],
    }


DOUBLE_BOOKINGS_SQL = """
    SELECT count(*)
    FROM virtual_sessions_appointment a
    JOIN virtual_sessions_appointment b
      ON a.clinician_id = b.clinician_id
     AND a.id < b.id
     AND a.blocked_from < b.blocked_until
     AND b.blocked_from < a.blocked_until
    WHERE a.status <> 'cancelled' AND b.status <> 'cancelled'
"""


def report_races(rounds: list[dict[str, Any]]) -> bool:
    first = rounds[0]
    total = first["attempts"]
    print()
    print(
        f"2b. Booking race: {total} attempts on {RACE_SLOTS} slots ({RACE_PER_SLOT} per slot, "
        f"each from a different client), {len(rounds)} round(s) on fresh slots"
    )
    print(
        f"   {first['workers']} worker processes, each with its own PostgreSQL connection "
        f"(max_connections {first['max_connections']}, {first['reserved']} reserved, "
        f"{first['in_use_before']} client connections in use before round 1)."
    )
    print(
        f"   {first['waves']} waves of {first['workers']} attempts, each released at once by a "
        f"barrier; all {RACE_PER_SLOT} attempts on a slot are in the same wave."
    )
    print(
        f"   Truly concurrent: up to {first['workers']} open transactions at a time (measured "
        f"peak in flight: {max(r['peak_in_flight'] for r in rounds)}); the machine has "
        f"{os.cpu_count()} CPUs, so at most {os.cpu_count()} processes run Python at one instant."
    )
    spreads = [spread for r in rounds for spread in r["release_spread"]]
    print(
        "   Release spread (first to last start of an attempt in a wave): median "
        f"{ms(statistics.median(spreads))} ms, max {ms(max(spreads))} ms."
    )
    rows = []
    for number, r in enumerate(rounds, start=1):
        rows.append(
            [
                str(number),
                str(r["booked"]),
                str(r["lost"]),
                str(r["lost"] - r["lost_at_constraint"]),
                str(r["lost_at_constraint"]),
                str(r["double"]),
                str(len(r["errors"])),
                str(r["emails"]),
                f"{r['wall']:.3f}",
                f"{r['attempts'] / r['wall']:.1f}",
                ms(statistics.median(r["attempt_times"])),
                ms(percentile(r["attempt_times"], 0.95)),
            ]
        )
    print(
        table(
            [
                "round",
                "booked",
                "lost",
                "at check",
                "at constraint",
                "double",
                "other errors",
                "emails",
                "wall s",
                "attempts/s",
                "median ms",
                "p95 ms",
            ],
            rows,
        )
    )
    walls = [r["wall"] for r in rounds]
    times = [t for r in rounds for t in r["attempt_times"]]
    print(
        f"   median over rounds: wall {statistics.median(walls):.3f} s, "
        f"{total / statistics.median(walls):.1f} attempts/s; over all attempts: median "
        f"{ms(statistics.median(times))} ms, p95 {ms(percentile(times, 0.95))} ms"
    )
    kinds = Counter(error.splitlines()[0][:160] for r in rounds for error in r["errors"])
    for kind, count in kinds.most_common():
        print(f"   other error x{count}: {kind}")
    ok = all(
        r["booked"] == RACE_SLOTS
        and r["slots_booked_once"] == RACE_SLOTS
        and r["lost"] == r["attempts"] - RACE_SLOTS
        and r["double"] == 0
        and not r["errors"]
        for r in rounds
    )
    errors = sum(len(r["errors"]) for r in rounds)
    double = max(r["double"] for r in rounds)
    print(
        f"   {'OK' if ok else 'FAILED'}: every round should make {RACE_SLOTS} bookings with 0 "
        f"double bookings and 0 other errors (double bookings: {double}, other errors: {errors})"
    )
    return ok


# --- 2c. Booking race over HTTP --------------------------------------------------------------


def http_server_keys_delete() -> int:
    """Delete what the HTTP race's server left in Redis: its Celery queues (the booking emails
    it queued, which no worker sends) and its cache and channel keys. Never FLUSHDB: other
    benchmarks use this database."""
    deleted = 0
    with redis.Redis.from_url(settings.REDIS_URL) as client:
        for pattern in (f"{HTTP_SERVER_PREFIX}*", f"*{HTTP_SERVER_PREFIX}*"):
            keys = list(client.scan_iter(match=pattern, count=1000))
            if keys:
                deleted += client.delete(*keys)
    return deleted


def http_race_server(log_dir: Path) -> AsgiServer:
    """daphne serving the application on the benchmark's database, configured as in production
    (the pool's settings are left to their defaults or to the shell), its Celery tasks queued
    in Redis for a worker that is not there."""
    return AsgiServer(
        log_path=log_dir / "daphne-booking.log",
        env={
            "DJANGO_SETTINGS_MODULE": "telehealth.settings",
            "DATABASE_URL": database_url_for_server(),
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_BROKER_URL": settings.REDIS_URL,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "CELERY_TASK_DEFAULT_QUEUE": HTTP_SERVER_PREFIX,
            "CHANNELS_PREFIX": HTTP_SERVER_PREFIX,
            "CACHE_PREFIX": HTTP_SERVER_PREFIX,
            "SECRET_KEY": settings.SECRET_KEY,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
        },
    )


def http_booking_request(
    *, service: Service, clinician: Clinician, starts_at: dt.datetime, name: str, email: str
) -> Request:
    """The details form of a new client, posted as a browser would (tests/raw_http.form_post),
    with the time zone cookie the page's script sets."""
    form = {
        "start": starts_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "full_name": name,
        "email": email,
        "phone": "+44 20 7946 0000",
        "date_of_birth": "1987-09-14",
        "time_zone": ZONE_NAME,
        "dominant_leg": "right",
        "emergency_contact_name": "Emergency Contact",
        "emergency_contact_phone": "+44 20 7946 0001",
        "knee_pain_side": "left",
        "pain_duration": "6_to_12_weeks",
        "pain_now": "5",
        "aggravating_activities": ["stairs", "running"],
        "previous_injuries": f"Typed by {name}",
        "consent_telehealth": "on",
    }
    path = reverse("sessions:book_details", args=[service.uuid]) + f"?clinician={clinician.uuid}"
    return form_post(path, form, cookies={"tz": ZONE_NAME})


def offered_starts(html: str) -> set[str]:
    """The times a 409 page offers instead (radio buttons named "start")."""
    return set(re.findall(r'<input type="radio" name="start" value="([^"]+)"', html))


def http_loser_checked(answer: Answer, *, name: str, wanted: str) -> str:
    """Why a 409 answer is not what a losing client should see, or "" when it is."""
    text = answer.text
    if "just taken" not in text:
        return "no 'just taken' message"
    if f'value="{name}"' not in text or f"Typed by {name}" not in text:
        return "what they typed is not kept"
    offered = offered_starts(text)
    if not offered:
        return "no other times offered"
    if wanted in offered:
        return "the taken time is offered again"
    return ""


def run_http_race(
    *,
    server: AsgiServer,
    service: Service,
    clinician: Clinician,
    times: list[dt.datetime],
    attempts: int,
    label: str,
) -> dict[str, Any]:
    """``attempts`` new clients at once, spread evenly over ``times``, over real sockets."""
    plan = []
    for number in range(attempts):
        starts_at = times[number % len(times)]
        name = f"Client {label}-{number}"
        email = f"http-{label}-{number}@bench.example.org"
        plan.append((starts_at, name, email))
    requests = [
        http_booking_request(
            service=service, clinician=clinician, starts_at=starts_at, name=name, email=email
        )
        for starts_at, name, email in plan
    ]
    load_before = load_average()
    started = time.monotonic()
    answers = send_at_once("127.0.0.1", server.port, requests, timeout=300)
    wall = time.monotonic() - started

    statuses: Counter[int] = Counter(answer.status for answer in answers)
    bad_losers: Counter[str] = Counter()
    busy_without_retry_after = 0
    for (starts_at, name, _), answer in zip(plan, answers, strict=True):
        if answer.status == 409:
            wanted = starts_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
            if problem := http_loser_checked(answer, name=name, wanted=wanted):
                bad_losers[problem] += 1
        elif answer.status == 503 and "retry-after" not in answer.headers:
            busy_without_retry_after += 1
    stored = Counter(
        Appointment.objects.filter(
            clinician=clinician, status=AppointmentStatus.CONFIRMED, starts_at__in=times
        ).values_list("starts_at", flat=True)
    )
    # Nothing half-saved: the only new accounts are the winners'.
    accounts = User.objects.filter(email__startswith=f"http-{label}-").count()
    waits = [answer.seconds for answer in answers]
    return {
        "label": label,
        "attempts": attempts,
        "statuses": statuses,
        "errors": Counter(answer.error.split(":")[0] for answer in answers if answer.error),
        "bad_losers": bad_losers,
        "busy_without_retry_after": busy_without_retry_after,
        "per_time": [stored[starts_at] for starts_at in times],
        "accounts": accounts,
        "double": scalar(DOUBLE_BOOKINGS_SQL),
        "waits": waits,
        "wall": wall,
        "load_before": load_before,
    }


def http_race_ok(result: dict[str, Any]) -> bool:
    statuses = result["statuses"]
    booked = statuses[302]
    return (
        all(count == 1 for count in result["per_time"])
        and booked == len(result["per_time"])
        and statuses[409] == result["attempts"] - booked
        and not result["bad_losers"]
        and result["accounts"] == booked
        and result["double"] == 0
    )


def report_http_races(results: list[dict[str, Any]], server: AsgiServer) -> bool:
    print()
    print(
        f"2c. Booking race over HTTP: new clients posting the details form at the same moment "
        f"for {HTTP_TIMES} free times of one clinician (attempts spread evenly over the times)"
    )
    pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool")
    print(
        f"   daphne (one process) on 127.0.0.1:{server.port}, DEBUG off, PostgreSQL pool "
        f"{pool}, Celery tasks queued in Redis; one TCP connection per attempt, all opened "
        "before the start, then every request written at once."
    )
    rows = []
    for r in results:
        statuses = r["statuses"]
        five_hundreds = sum(count for status, count in statuses.items() if status >= 500)
        others = sum(count for status, count in statuses.items() if status not in (302, 409, 503))
        rows.append(
            [
                r["label"],
                str(r["attempts"]),
                str(statuses[302]),
                str(statuses[409]),
                str(statuses[503]),
                str(five_hundreds),
                str(others),
                f"{min(r['per_time'])}-{max(r['per_time'])}",
                str(r["double"]),
                str(r["accounts"] - statuses[302]),
                str(sum(r["bad_losers"].values())),
                ms(statistics.median(r["waits"])),
                ms(percentile(r["waits"], 0.95)),
                ms(max(r["waits"])),
                f"{r['wall']:.2f}",
                r["load_before"].split(",")[0],
            ]
        )
    print(
        table(
            [
                "round",
                "attempts",
                "302 booked",
                "409 taken",
                "503 busy",
                ">= 500",
                "other",
                "bookings per time",
                "double",
                "half-saved",
                "bad 409",
                "median ms",
                "p95 ms",
                "max ms",
                "wall s",
                "load",
            ],
            rows,
            text=(0,),
        )
    )
    ok = True
    for r in results:
        for problem, count in r["bad_losers"].items():
            print(f"   {r['label']}: {count} losers' pages wrong: {problem}")
        for error, count in r["errors"].items():
            print(f"   {r['label']}: {count} attempts without an answer: {error}")
        if r["busy_without_retry_after"]:
            print(f"   {r['label']}: {r['busy_without_retry_after']} 503s without Retry-After")
        ok = ok and http_race_ok(r)
    log = server.log()
    print(
        f"   daphne log: {log.count('Traceback')} tracebacks, "
        f"{log.count('Internal Server Error')} 'Internal Server Error' lines"
    )
    print(
        f"   {'OK' if ok else 'FAILED'}: every round should book each time exactly once, answer "
        "every other attempt 409 with fresh times and what was typed, save nothing for them, "
        "and answer nothing with 500 or more"
    )
    return ok


def measure_http_races(
    *,
    service: Service,
    clinician: Clinician,
    first_day: dt.date,
    sizes: list[int],
    rounds: int,
) -> bool:
    connections.close_all()
    http_server_keys_delete()
    server = http_race_server(Path(tempfile.mkdtemp(prefix="telehealth-bench-booking-")))
    all_times = spaced_slots(service, clinician, first_day, HTTP_TIMES * len(sizes) * rounds)
    results = []
    try:
        server.start()
        # Warm up the server: the first request of a process imports and compiles templates.
        warm = http_booking_request(
            service=service,
            clinician=clinician,
            starts_at=all_times[0] - dt.timedelta(minutes=7),
            name="Warm Up",
            email="warm-up@bench.example.org",
        )
        send_at_once("127.0.0.1", server.port, [warm] * 4)
        batch = 0
        # Sizes interleaved round by round, so that the machine's load falls on them alike.
        for round_number in range(1, rounds + 1):
            for attempts in sizes:
                times = all_times[batch * HTTP_TIMES : (batch + 1) * HTTP_TIMES]
                batch += 1
                results.append(
                    run_http_race(
                        server=server,
                        service=service,
                        clinician=clinician,
                        times=times,
                        attempts=attempts,
                        label=f"{attempts}/{round_number}",
                    )
                )
                connections.close_all()
        return report_http_races(results, server)
    finally:
        server.stop()
        print(f"   daphne log: {server.log_path}")
        http_server_keys_delete()


# --- Main ------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 5 repetitions, 1 race round"
    )
    parser.add_argument("--repetitions", type=int, help="repetitions per timing (default 30)")
    parser.add_argument("--race-rounds", type=int, help="booking races to run (default 10)")
    parser.add_argument(
        "--http-attempts",
        default=",".join(map(str, HTTP_ATTEMPTS)),
        help="sizes of the race over HTTP, comma-separated (default 300,1000)",
    )
    parser.add_argument(
        "--http-rounds", type=int, help="rounds of each size of the race over HTTP (default 3)"
    )
    parser.add_argument(
        "--parts",
        default="slots,single,race,http",
        help="what to measure, comma-separated: slots, single, race, http (default all)",
    )
    arguments = parser.parse_args()
    repetitions = arguments.repetitions or (5 if arguments.quick else 30)
    race_rounds = arguments.race_rounds or (1 if arguments.quick else 10)
    http_rounds = arguments.http_rounds or (1 if arguments.quick else 3)
    http_sizes = [int(size) for size in arguments.http_attempts.split(",") if size.strip()]
    parts = {part.strip() for part in arguments.parts.split(",")}

    check_database_is_ours()
    started = time.perf_counter()
    recreate_database()
    call_command("migrate", interactive=False, verbosity=0)
    migrated = time.perf_counter() - started

    print("Booking benchmark" + (" (quick)" if arguments.quick else ""))
    for line in machine_description():
        print(f"  {line}")
    print(
        f"  {repetitions} repetitions per timing, {race_rounds} race round(s); "
        f"DEBUG={settings.DEBUG}; Celery eager={settings.CELERY_TASK_ALWAYS_EAGER}; "
        f"email: {settings.EMAIL_BACKEND}"
    )
    print(f"  {code_version()}; database recreated and migrated in {migrated:.1f} s")

    setup_started = time.perf_counter()
    now = timezone.now()
    today = now.astimezone(ZONE).date()
    # The first Monday at least two days ahead, so minimum notice never trims the window.
    first_day = today + dt.timedelta(days=2)
    first_day += dt.timedelta(days=(7 - first_day.weekday()) % 7)
    last_day = first_day + dt.timedelta(weeks=WEEKS) - dt.timedelta(days=1)

    # One clinician per size, one for the race over HTTP, one for the race in processes, one
    # for bookings without contention.
    clinicians = make_clinicians(len(SIZES) + 3)
    service = Service.objects.create(
        name="Virtual assessment",
        duration_minutes=45,
        buffer_before_minutes=0,
        buffer_after_minutes=15,
        minimum_notice_minutes=120,
        booking_horizon_days=120,
        slot_interval_minutes=15,
    )
    service.clinicians.add(*clinicians)
    clients = make_clients(RACE_SLOTS * RACE_PER_SLOT + 1)
    for size, clinician in zip(SIZES, clinicians, strict=False):
        make_appointments(
            service=service,
            clinician=clinician,
            client=clients[-1],
            starts=appointment_starts(size, first_day, last_day),
            now=now,
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    by_size = {
        size: Clinician.objects.select_related("user").get(pk=clinician.pk)
        for size, clinician in zip(SIZES, clinicians, strict=False)
    }
    print(
        f"  window {first_day} to {last_day} ({ZONE_NAME}); "
        f"{Appointment.objects.count()} appointments in the table; "
        f"setup {time.perf_counter() - setup_started:.1f} s"
    )

    ok = True
    if "slots" in parts:
        listing = measure_slot_listing(
            service=service,
            clinicians=by_size,
            first_day=first_day,
            last_day=last_day,
            now=now,
            repetitions=repetitions,
        )
        page = measure_slot_page(
            service=service,
            clinicians=by_size,
            week=first_day + dt.timedelta(weeks=1),
            repetitions=repetitions,
        )
        report_slots(listing, page)

    if "single" in parts:
        single = measure_single_bookings(
            service=service,
            clinician=Clinician.objects.select_related("user").get(pk=clinicians[-1].pk),
            client=clients[-1],
            first_day=first_day,
            count=repetitions,
        )
        report_single_bookings(single)

    if "race" in parts:
        race_clinician = Clinician.objects.select_related("user").get(pk=clinicians[-2].pk)
        slots = spaced_slots(service, race_clinician, first_day, RACE_SLOTS * race_rounds)
        rounds = [
            run_race(
                service=service,
                clinician=race_clinician,
                clients=clients[: RACE_SLOTS * RACE_PER_SLOT],
                slots=slots[number * RACE_SLOTS : (number + 1) * RACE_SLOTS],
            )
            for number in range(race_rounds)
        ]
        ok = report_races(rounds) and ok

    if "http" in parts:
        ok = (
            measure_http_races(
                service=service,
                clinician=Clinician.objects.select_related("user").get(pk=clinicians[-3].pk),
                first_day=first_day,
                sizes=http_sizes,
                rounds=http_rounds,
            )
            and ok
        )
    print(f"  load average at the end: {load_average()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
