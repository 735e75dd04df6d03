"""Redis stops (a crash, a restart) while the site runs: what needs it says "try again in a
moment", the rest keeps working, and everything is normal again once Redis is back.

daphne runs against a private redis-server (cache, channel layer and task broker) that this
test kills and starts again on the same port. Needing Redis: the sign-in link form (its rate
limits count in Redis) and the room's socket (the channel layer). Not needing it: pages, and
a booking, whose emails are owed in the database and sent by the sweep when the broker cannot
take the task.
"""

import asyncio
import datetime as dt
import http.client
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from clinic.models import SignInLink
from sessions.models import Appointment, AppointmentEmail
from tests import factories
from tests.asgi_server import AsgiServer
from tests.celery_worker import database_url
from tests.conftest import session_key_for
from tests.raw_http import Request, form_post
from tests.redis_server import RedisServer
from tests.sessions.booking_helpers import booking_data
from tests.smtp import SMTPServer

pytestmark = pytest.mark.django_db(transaction=True)

ALL_DAY = (dt.time(0), dt.time(23, 59))
TRY_AGAIN_LATER = 4503


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(log_path=tmp_path / "redis.log")
    with server:
        yield server


@pytest.fixture
def server(
    transactional_db, settings, smtp_server: SMTPServer, redis: RedisServer, tmp_path: Path
) -> Iterator[AsgiServer]:
    """daphne as in production (DEBUG off, tasks to the broker) with the private Redis."""
    database = settings.DATABASES["default"]
    assert str(database["NAME"]).startswith("test_"), database["NAME"]
    server = AsgiServer(
        log_path=tmp_path / "daphne.log",
        env={
            "DJANGO_SETTINGS_MODULE": "telehealth.settings",
            "DEBUG": "false",
            "DATABASE_URL": database_url(database),
            "REDIS_URL": redis.url(),
            "CELERY_BROKER_URL": redis.url(1),
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "SECRET_KEY": settings.SECRET_KEY,
            "ALLOWED_HOSTS": "localhost,127.0.0.1",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(smtp_server.port),
            "EMAIL_USE_TLS": "false",
            "SIGN_IN_LINKS_PER_EMAIL_PER_HOUR": "100",
            "SIGN_IN_LINKS_PER_IP_PER_HOUR": "100",
        },
    )
    settings.SITE_URL = server.env["SITE_URL"] = server.url
    server.start()
    yield server
    server.stop()
    print(f"--- daphne log ---\n{server.log()}")


def send(server: AsgiServer, request: Request) -> tuple[int, dict[str, str], str]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        headers = {"Host": "localhost", **request.headers}
        conn.request(request.method, request.path, body=request.body or None, headers=headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        conn.close()


async def room_welcome_or_close(server: AsgiServer, path: str, session_key: str) -> str:
    """ "welcome", or how the server closed the socket ("closed <code> <reason>")."""
    async with connect(
        f"ws://localhost:{server.port}{path}",
        origin=Origin(server.url),
        additional_headers={"Cookie": f"sessionid={session_key}"},
        open_timeout=10,
    ) as socket:
        try:
            frame = json.loads(await asyncio.wait_for(socket.recv(), 10))
        except ConnectionClosed as closed:
            close = closed.rcvd
        else:
            return frame["type"]
    assert close is not None, "closed without a close frame"
    return f"closed {close.code} {close.reason}"


def assert_try_again(status: int, headers: dict[str, str], body: str) -> None:
    assert status == 503, (status, body[:500])
    assert int(headers["Retry-After"]) > 0
    assert "try again" in body


def test_while_redis_is_down_what_needs_it_says_try_again_and_the_rest_works(
    server: AsgiServer, redis: RedisServer, consent_documents, client_record, clinician
) -> None:
    other = factories.make_clinician(
        email="sam@clinic.example", full_name="Sam Rivera", hours=ALL_DAY
    )
    service = factories.make_service(other)
    details = reverse("sessions:book_details", args=[service.uuid]) + f"?clinician={other.uuid}"
    first_time = timezone.now().replace(minute=0, second=0, microsecond=0) + dt.timedelta(days=3)
    appointment = factories.make_appointment(
        service=factories.make_service(clinician),
        clinician=clinician,
        client=client_record,
        starts_at=timezone.now().replace(microsecond=0) + dt.timedelta(minutes=5),
    )
    room = f"/ws/appointments/{appointment.uuid}/room/"
    ana = session_key_for(client_record.user)
    link_form = form_post(
        reverse("clinic:sign_in_link_request"), {"email": client_record.user.email}
    )

    def book(number: int) -> int:
        start = first_time + dt.timedelta(hours=2 * number)
        email = f"booker{number}@example.org"
        status, _, body = send(
            server, form_post(details, booking_data(start, full_name="Booker", email=email))
        )
        assert status == 302, (status, body[:500])
        assert Appointment.objects.filter(client__user__email=email).exists()
        return status

    # Redis up: all normal.
    status, _, body = send(server, link_form)
    assert status == 200, body[:500]
    assert asyncio.run(room_welcome_or_close(server, room, ana)) == "welcome"

    redis.stop()
    # Pages that do not need Redis.
    for path in ("/", reverse("clinic:login"), reverse("sessions:services")):
        assert send(server, Request("GET", path))[0] == 200, path
    # The sign-in link form: its rate limits count in Redis.
    links_before = SignInLink.objects.count()
    assert_try_again(*send(server, link_form))
    assert_try_again(
        *send(
            server,
            form_post(
                link_form.path, {"email": "x@example.org"}, headers={"Accept": "application/json"}
            ),
        )
    )
    assert SignInLink.objects.count() == links_before
    # A booking is saved; its emails are owed in the database for the sweep to send.
    book(0)
    assert AppointmentEmail.objects.filter(sent_at=None).exists()
    # The room's socket: closed with "try again later", which the room page reconnects after.
    closed = asyncio.run(room_welcome_or_close(server, room, ana))
    assert closed == f"closed {TRY_AGAIN_LATER} ", closed

    redis.start()
    status, _, body = send(server, link_form)
    assert status == 200, body[:500]
    assert asyncio.run(room_welcome_or_close(server, room, ana)) == "welcome"
    book(1)
    assert "Internal Server Error" not in server.log()
    assert os.environ["REDIS_URL"] != redis.url()
