"""Booking under load through the real server (daphne), over real sockets.

Many new clients posting the details form at the same moment for a few times get one booking
per time and, everyone else, the "just taken" answer with fresh times and what they typed: no
server error. When the database cannot serve a request in time (no pooled connection free, a
lock or a statement past its timeout, a long queue) the answer is "very busy, try again" (503
with Retry-After) and nothing is saved. Each limit is reached for real: a lock held by this
test's own connection keeps the server's requests waiting.
"""

import datetime as dt
import json
import re
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from html import unescape
from urllib.parse import urlencode

import pytest
from django.db import connection, transaction
from django.urls import reverse

from clinic.models import Clinician, Consent, Intake, User
from sessions.models import Appointment, AppointmentStatus, Service
from tests import factories
from tests.asgi_server import AsgiServer
from tests.conftest import session_key_for
from tests.raw_http import Answer, Request, form_post, send_at_once
from tests.sessions.booking_helpers import booking_data, iso
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.django_db(transaction=True)

ALL_DAY = (dt.time(0), dt.time(23, 59))
# Three days ahead at 09:00 UTC, then every two hours: free, far apart, inside the horizon.
FIRST = dt.datetime.now(dt.UTC).replace(hour=9, minute=0, second=0, microsecond=0) + dt.timedelta(
    days=3
)
TIMES = [FIRST + dt.timedelta(hours=2 * number) for number in range(5)]

# The server as in production (DEBUG off; the connection pool's own settings untouched).
PRODUCTION = {"DEBUG": "false"}


@pytest.fixture
def bookable(consent_documents) -> tuple[Service, Clinician]:
    clinician = factories.make_clinician(
        email="maya@clinic.example", full_name="Maya Okafor", hours=ALL_DAY
    )
    return factories.make_service(clinician), clinician


def details_path(service: Service, clinician: Clinician) -> str:
    return reverse("sessions:book_details", args=[service.uuid]) + f"?clinician={clinician.uuid}"


def booking(
    service: Service, clinician: Clinician, start: dt.datetime, name: str, **headers: str
) -> Request:
    email = f"{name.lower().replace(' ', '.')}@example.org"
    data = booking_data(start, full_name=name, email=email, previous_injuries=f"Typed by {name}")
    return form_post(details_path(service, clinician), data, headers=headers)


def offered(answer: Answer) -> set[str]:
    """The times a page offers to pick instead (radio buttons named "start")."""
    return set(re.findall(r'<input type="radio" name="start" value="([^"]+)"', answer.text))


def send_again_fields(answer: Answer) -> dict[str, list[str]]:
    """The hidden fields of the busy page's "Send it again" form."""
    fields: dict[str, list[str]] = {}
    for name, value in re.findall(
        r'<input type="hidden" name="([^"]+)" value="([^"]*)">', answer.text
    ):
        fields.setdefault(unescape(name), []).append(unescape(value))
    return fields


def assert_very_busy(answer: Answer) -> None:
    assert answer.status == 503, (answer.status, answer.error, answer.text[:300])
    assert int(answer.headers["retry-after"]) > 0
    assert "Very busy, please try again" in answer.text
    assert "Please try again in about 10 seconds" in answer.text


def assert_nothing_saved_for(email: str) -> None:
    assert not User.objects.filter(email=email).exists()
    assert not Intake.objects.filter(client__user__email=email).exists()
    assert not Consent.objects.filter(client__user__email=email).exists()
    assert not Appointment.objects.filter(client__user__email=email).exists()


@contextmanager
def schedule_locked(clinician: Clinician) -> Iterator[None]:
    """Another change to the clinician's schedule in progress: its lock, held by this test's own
    database connection until the block ends."""
    with transaction.atomic():
        Clinician.objects.select_for_update().filter(pk=clinician.pk).exists()
        yield


def wait_for_lock_waiters(count: int, timeout: float = 20) -> None:
    """Until ``count`` of the server's connections wait for a lock (seen from this test's
    connection, inside its transaction: so the statistics snapshot is cleared each time)."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0] >= count:
                return
            assert time.monotonic() < deadline, f"{count} requests never waited for the lock"
            time.sleep(0.05)


def in_background(server: AsgiServer, requests: list[Request]) -> tuple[threading.Thread, list]:
    answers: list[Answer] = []
    thread = threading.Thread(
        target=lambda: answers.extend(send_at_once("127.0.0.1", server.port, requests)),
        daemon=True,
    )
    thread.start()
    return thread, answers


# --- Many clients for few times ------------------------------------------------------------

ATTEMPTS = 250


@pytest.mark.parametrize("asgi_server", [{"env": PRODUCTION}], indirect=True)
def test_many_clients_at_once_for_few_times_book_each_once_and_the_rest_are_told_taken(
    asgi_server: AsgiServer, bookable
) -> None:
    service, clinician = bookable
    plan = [(TIMES[number % len(TIMES)], f"Racer {number}") for number in range(ATTEMPTS)]

    answers = send_at_once(
        "127.0.0.1",
        asgi_server.port,
        [booking(service, clinician, start, name) for start, name in plan],
    )

    statuses = Counter(answer.status for answer in answers)
    waits = sorted(answer.seconds for answer in answers)
    print(
        f"{ATTEMPTS} attempts: {dict(statuses)}; wait median {statistics.median(waits):.2f} s, "
        f"p95 {waits[int(0.95 * len(waits)) - 1]:.2f} s, max {waits[-1]:.2f} s"
    )
    assert statuses == {302: len(TIMES), 409: ATTEMPTS - len(TIMES)}, [
        (answer.status, answer.error, answer.text[:200])
        for answer in answers
        if answer.status not in (302, 409)
    ][:3]
    # Exactly one booking per time, and only the winners' records exist.
    booked = Counter(
        Appointment.objects.filter(status=AppointmentStatus.CONFIRMED).values_list(
            "starts_at", flat=True
        )
    )
    assert booked == dict.fromkeys(TIMES, 1)
    assert User.objects.filter(email__startswith="racer.").count() == len(TIMES)
    for (start, name), answer in zip(plan, answers, strict=True):
        if answer.status != 409:
            continue
        assert "this time was just taken" in answer.text
        assert f'value="{name}"' in answer.text
        assert f"Typed by {name}" in answer.text
        choices = offered(answer)
        assert choices, "no other times offered"
        assert iso(start) not in choices


# --- Two web processes behind a proxy -------------------------------------------------------

SPLIT_ATTEMPTS = 200
SPLIT_TIMES = TIMES[:4]


@pytest.mark.parametrize("asgi_server", [{"env": PRODUCTION}], indirect=True)
def test_clients_split_over_two_processes_book_each_time_once(
    asgi_server: AsgiServer, bookable, tmp_path
) -> None:
    """Two daphne processes on one database behind a round-robin proxy (as a clinic runs
    several): the clinician's schedule lock is in PostgreSQL, not in a process, so one booking
    per time and a clear "just taken" page with the form kept for everyone else."""
    service, clinician = bookable
    second = AsgiServer(env=asgi_server.env, log_path=tmp_path / "daphne-2.log")
    second.start()
    try:
        with TcpProxy([("127.0.0.1", asgi_server.port), ("127.0.0.1", second.port)]) as proxy:
            plan = [
                (SPLIT_TIMES[number % len(SPLIT_TIMES)], f"Splitter {number}")
                for number in range(SPLIT_ATTEMPTS)
            ]
            answers = send_at_once(
                "127.0.0.1",
                proxy.port,
                [booking(service, clinician, start, name) for start, name in plan],
            )
            served_by = Counter(connection.backend for connection in proxy.connections)
    finally:
        second.stop()
    # Both processes took their share of the crowd.
    assert set(served_by) == {0, 1}, served_by
    assert min(served_by.values()) >= SPLIT_ATTEMPTS // 3, served_by
    statuses = Counter(answer.status for answer in answers)
    assert statuses == {302: len(SPLIT_TIMES), 409: SPLIT_ATTEMPTS - len(SPLIT_TIMES)}, [
        (answer.status, answer.error, answer.text[:200])
        for answer in answers
        if answer.status not in (302, 409)
    ][:3]
    booked = Counter(
        Appointment.objects.filter(status=AppointmentStatus.CONFIRMED).values_list(
            "starts_at", flat=True
        )
    )
    assert booked == dict.fromkeys(SPLIT_TIMES, 1)
    for (_, name), answer in zip(plan, answers, strict=True):
        if answer.status == 409:
            assert "this time was just taken" in answer.text
            assert f'value="{name}"' in answer.text
            assert offered(answer)


# --- When the database cannot serve in time -------------------------------------------------

POOL_OF_ONE = {
    **PRODUCTION,
    "DATABASE_POOL_MIN_SIZE": "1",
    "DATABASE_POOL_MAX_SIZE": "1",
    "DATABASE_POOL_TIMEOUT_SECONDS": "2",
    "HTTP_REQUESTS_AT_ONCE": "3",
    "HTTP_QUEUE_TIMEOUT_SECONDS": "1",
    "BOOKING_LOCK_TIMEOUT_MS": "30000",
}


@pytest.mark.parametrize("asgi_server", [{"env": POOL_OF_ONE}], indirect=True)
def test_a_dry_pool_and_a_long_queue_answer_very_busy_and_save_nothing(
    asgi_server: AsgiServer, bookable, client_record
) -> None:
    service, clinician = bookable
    signed_in = {"Cookie": f"sessionid={session_key_for(client_record.user)}"}
    with schedule_locked(clinician):
        # A booking takes the pool's only connection and waits for the schedule's lock.
        first, first_answer = in_background(
            asgi_server, [booking(service, clinician, TIMES[0], "First Client")]
        )
        wait_for_lock_waiters(1)
        # Two more get a turn and wait for a connection: one in the view, one signed in, whose
        # session is read by a middleware before the view.
        waiting, waiting_answers = in_background(
            asgi_server,
            [
                booking(service, clinician, TIMES[1], "Second Client"),
                Request("GET", reverse("sessions:services"), headers=signed_in),
            ],
        )
        time.sleep(0.5)
        # The fourth finds all three turns taken and waits in the queue.
        [queued] = send_at_once(
            "127.0.0.1",
            asgi_server.port,
            [booking(service, clinician, TIMES[2], "Third Client", Accept="application/json")],
        )
        waiting.join(30)
    first.join(30)

    assert_very_busy(waiting_answers[0])
    assert_very_busy(waiting_answers[1])
    assert queued.status == 503
    assert queued.headers["content-type"] == "application/json"
    assert queued.headers["retry-after"] == "10"
    assert json.loads(queued.body) == {
        "error": "We are very busy right now and could not finish this. "
        "Please try again in about 10 seconds.",
        "retry_after": 10,
    }
    # What was typed comes back in the page, ready to be sent again.
    fields = send_again_fields(waiting_answers[0])
    assert fields["full_name"] == ["Second Client"]
    assert fields["aggravating_activities"] == ["stairs", "running"]
    assert_nothing_saved_for("second.client@example.org")
    assert_nothing_saved_for("third.client@example.org")
    # The first booking went through once the lock was free.
    assert first_answer[0].status == 302
    assert Appointment.objects.get().client.user.email == "first.client@example.org"
    log = asgi_server.log()
    assert "Service Unavailable (no database connection free in time): POST" in log
    assert "Service Unavailable (no database connection free in time): GET /book/" in log
    assert "Service Unavailable (waited too long for its turn): POST" in log
    assert "Traceback" not in log


@pytest.mark.parametrize(
    "asgi_server", [{"env": {**PRODUCTION, "BOOKING_LOCK_TIMEOUT_MS": "500"}}], indirect=True
)
def test_a_lock_wait_past_the_limit_answers_very_busy_and_the_form_can_be_sent_again(
    asgi_server: AsgiServer, bookable
) -> None:
    service, clinician = bookable
    carla = booking(service, clinician, TIMES[0], "Carla Nunes")
    with schedule_locked(clinician):
        page, script = send_at_once(
            "127.0.0.1",
            asgi_server.port,
            [carla, booking(service, clinician, TIMES[1], "Dan Htmx", **{"HX-Request": "true"})],
        )

    assert_very_busy(page)
    assert 0.5 <= page.seconds < 5
    assert script.status == 503
    assert script.headers["retry-after"] == "10"
    assert script.headers["content-type"] == "application/json"
    assert_nothing_saved_for("carla.nunes@example.org")
    assert_nothing_saved_for("dan.htmx@example.org")
    assert "Service Unavailable (lock not granted in time)" in asgi_server.log()

    # "Send it again" from the same browser, now that the lock is free: booked as typed.
    action = unescape(re.search(r'<form method="post" action="([^"]+)"', page.text)[1])
    again = Request(
        "POST",
        action,
        headers={"Content-Type": carla.headers["Content-Type"], "Cookie": carla.headers["Cookie"]},
        body=urlencode(send_again_fields(page), doseq=True).encode(),
    )
    [booked] = send_at_once("127.0.0.1", asgi_server.port, [again])
    assert booked.status == 302, booked.text[:300]
    appointment = Appointment.objects.get()
    assert appointment.starts_at == TIMES[0]
    assert appointment.client.user.full_name == "Carla Nunes"
    assert appointment.intake.previous_injuries == "Typed by Carla Nunes"


@pytest.mark.parametrize(
    "asgi_server",
    [
        {
            "env": {
                **PRODUCTION,
                "DATABASE_STATEMENT_TIMEOUT_MS": "1000",
                "BOOKING_LOCK_TIMEOUT_MS": "30000",
            }
        }
    ],
    indirect=True,
)
def test_a_statement_timeout_answers_very_busy_and_saves_nothing(
    asgi_server: AsgiServer, bookable
) -> None:
    service, clinician = bookable
    with schedule_locked(clinician):
        [answer] = send_at_once(
            "127.0.0.1",
            asgi_server.port,
            [booking(service, clinician, TIMES[0], "Carla Nunes")],
        )

    assert_very_busy(answer)
    assert 1 <= answer.seconds < 10
    assert_nothing_saved_for("carla.nunes@example.org")
    assert "Service Unavailable (statement timeout)" in asgi_server.log()
