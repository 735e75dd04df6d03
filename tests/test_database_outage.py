"""The database drops every connection while people use the site (a restart, a failover, an
admin ending backends): no server error, and every booking is saved whole or not at all.

daphne runs with the production pool; twenty clients load pages and book while this test ends
all of the server's PostgreSQL connections three times (``pg_terminate_backend``). A page
being read when its connection was ended is read again on a fresh connection; a booking being
saved is told to try again in a moment (503 with Retry-After), saved whole or not at all; the
next requests get connections the pool checked first.
"""

import datetime as dt
import http.client
import threading
import time
from collections import Counter
from dataclasses import dataclass

import pytest
from django.db import connection
from django.urls import reverse

from clinic.models import Consent, Intake, User
from sessions.models import Appointment
from tests import factories
from tests.asgi_server import AsgiServer
from tests.raw_http import Request, form_post
from tests.sessions.booking_helpers import booking_data

pytestmark = pytest.mark.django_db(transaction=True)

ALL_DAY = (dt.time(0), dt.time(23, 59))
FIRST = dt.datetime.now(dt.UTC).replace(hour=1, minute=0, second=0, microsecond=0) + dt.timedelta(
    days=3
)
CLIENTS = 20
WRITERS = 5


@dataclass
class Got:
    status: int
    retry_after: str | None
    body: str


def send(port: int, request: Request) -> Got:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(
            request.method,
            request.path,
            body=request.body or None,
            headers={
                "Host": "localhost",
                **request.headers,
            },
        )
        response = conn.getresponse()
        return Got(response.status, response.getheader("Retry-After"), response.read().decode())
    finally:
        conn.close()


def terminate_the_servers_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


@pytest.mark.parametrize("asgi_server", [{"env": {"DEBUG": "false"}}], indirect=True)
def test_ending_every_database_connection_three_times_gives_no_server_error_and_no_half_booking(
    asgi_server: AsgiServer, consent_documents
) -> None:
    clinician = factories.make_clinician(
        email="maya@clinic.example", full_name="Maya Okafor", hours=ALL_DAY
    )
    service = factories.make_service(clinician)
    details = reverse("sessions:book_details", args=[service.uuid]) + f"?clinician={clinician.uuid}"
    pages = [
        "/",
        reverse("clinic:login"),
        reverse("sessions:services"),
        reverse("sessions:book_clinicians", args=[service.uuid]),
        reverse("sessions:book_slots", args=[service.uuid, clinician.uuid]),
    ]
    answers: list[tuple[str, Got]] = []
    bookings: list[tuple[str, Got]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def reader(number: int) -> None:
        turn = 0
        while not stop.is_set():
            path = pages[(number + turn) % len(pages)]
            turn += 1
            got = send(asgi_server.port, Request("GET", path))
            with lock:
                answers.append((path, got))

    def writer(number: int) -> None:
        turn = 0
        # At most 40 each: 200 times two hours apart stay inside the 60-day booking horizon.
        while not stop.is_set() and turn < 40:
            # Times two hours apart, one per booking: nobody competes for a time.
            start = FIRST + dt.timedelta(hours=2 * (turn * WRITERS + number))
            email = f"writer{number}.{turn}@example.org"
            turn += 1
            data = booking_data(start, full_name=f"Writer {number}", email=email)
            got = send(asgi_server.port, form_post(details, data))
            with lock:
                bookings.append((email, got))

    threads = [
        threading.Thread(target=writer if number < WRITERS else reader, args=(number,))
        for number in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()

    def load_for(count: int) -> None:
        """Until ``count`` more answers came (at least 1.5 s: a slow machine answers less)."""
        with lock:
            target = len(answers) + len(bookings) + count
        deadline = time.monotonic() + 60
        time.sleep(1.5)
        while len(answers) + len(bookings) < target:
            assert time.monotonic() < deadline, "the clients got no answers"
            time.sleep(0.1)

    try:
        ended = []
        for _ in range(3):
            load_for(40)
            ended.append(terminate_the_servers_connections())
        load_for(40)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=90)

    everything = answers + bookings
    statuses = Counter(got.status for _, got in everything)
    print(f"ended {ended} connections; answers: {dict(statuses)}")
    assert all(count > 0 for count in ended), ended
    assert len(answers) + len(bookings) >= 160, statuses
    assert len(bookings) >= 5, statuses
    for path, got in everything:
        if got.status >= 500:
            # Only "try again in a moment", and never a server error.
            assert got.status == 503, (path, got.status, got.body[:500])
            assert got.retry_after
            assert int(got.retry_after) > 0
            assert "try again" in got.body
    # A page being read when its connection was ended is read again on a fresh one.
    for path, got in answers:
        assert got.status == 200, (path, got.status, got.body[:300])
    # Each booking is all there (account, intake, consents, appointment) or not at all; one
    # that was confirmed is there.
    for email, got in bookings:
        rows = (
            User.objects.filter(email=email).count(),
            Intake.objects.filter(client__user__email=email).count(),
            Consent.objects.filter(client__user__email=email).exists(),
            Appointment.objects.filter(client__user__email=email).count(),
        )
        assert rows in ((0, 0, False, 0), (1, 1, True, 1)), (email, got.status, rows)
        if got.status == 302:
            assert rows == (1, 1, True, 1), email
        else:
            assert got.status == 503, (email, got.status, got.body[:300])
    # And the site serves as before once the connections are back.
    for path in pages:
        assert send(asgi_server.port, Request("GET", path)).status == 200, path
    assert "Internal Server Error" not in asgi_server.log()


@pytest.mark.parametrize("asgi_server", [{"env": {"DEBUG": "false"}}], indirect=True)
def test_the_first_request_after_the_connections_were_ended_is_served_at_once(
    asgi_server: AsgiServer,
) -> None:
    """psycopg_pool alone tries broken connections one by one, waiting 1, 2, 4, 8 s between
    them: with the pool full of ended connections the first request waited 15 s."""
    page = Request("GET", reverse("sessions:services"))
    for _ in range(3):
        # Ten requests at once leave about ten connections in the pool.
        threads = [threading.Thread(target=send, args=(asgi_server.port, page)) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert terminate_the_servers_connections() >= 3
        started = time.monotonic()
        got = send(asgi_server.port, page)
        seconds = time.monotonic() - started
        assert got.status == 200, got.body[:300]
        assert seconds < 1, f"the first request took {seconds:.1f} s"
