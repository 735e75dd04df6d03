import datetime as dt
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from channels.layers import channel_layers
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.core.cache import cache
from django.db import connections
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone

from assessments.models import Exercise
from assessments.programs.exercise_library import exercises_load
from clinic.models import Client, Clinician, ConsentDocument, ConsentKind, User
from clinic.services import consent_document_current
from sessions.models import Appointment, Service
from telehealth.celery import app as celery_app
from tests import factories
from tests.asgi_server import PROJECT_DIR, AsgiServer
from tests.celery_worker import CeleryWorker, database_url
from tests.smtp import Inbox, SMTPServer
from tests.test_settings import SECURE

# A Monday, well clear of DST changes; tests that need "now" freeze time here.
MONDAY_MORNING = dt.datetime(2026, 6, 8, 7, 0, tzinfo=dt.UTC)


def minutes_later(time_machine, minutes: float) -> None:
    """Move the test's frozen clock (the time_machine fixture) on by ``minutes``."""
    time_machine.move_to(timezone.now() + dt.timedelta(minutes=minutes), tick=False)


@pytest.fixture(scope="session", autouse=True)
def _close_the_database_pool_at_the_end(django_db_setup, django_db_blocker) -> Iterator[None]:
    """Pooled connections opened by other threads (consumers, the media worker) stay open in
    the pool; close them before pytest-django drops the test database."""
    yield
    with django_db_blocker.unblock():
        for connection in connections.all():
            if getattr(connection, "pool", None) is not None:
                connection.close_pool()


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SMTPServer]:
    server = SMTPServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def inbox(settings, smtp_server: SMTPServer) -> Inbox:
    """Every email a test sends goes through a real SMTP server on loopback."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = smtp_server.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    smtp_server.inbox.clear()
    return smtp_server.inbox


@pytest.fixture(autouse=True)
def _fresh_channel_layer() -> Iterator[None]:
    """A new channel layer object for every test.

    The Redis layer keeps per-process receive state bound to the event loop that used it
    last; a test that fails while its sockets are still receiving would otherwise leave that
    state locked for every later test in this worker.
    """
    yield
    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    # Rate-limit counters live in the cache (this worker's own Redis database).
    cache.clear()


@pytest.fixture
def retries_run_out() -> Iterator[None]:
    """Eager tasks retry as a worker would (at once, without the backoff's waits) until their
    retries run out, and then fail without raising into the code that queued them."""
    propagates = celery_app.conf.task_eager_propagates
    celery_app.conf.task_eager_propagates = False
    try:
        yield
    finally:
        celery_app.conf.task_eager_propagates = propagates


@pytest.fixture
def library(db) -> None:
    """The exercise library the data migration loads. Transactional tests empty every table
    when they end, so later tests load it again."""
    if not Exercise.objects.exists():
        exercises_load(Exercise)


@pytest.fixture
def consent_documents(db) -> None:
    """Booking needs published consent texts. Migration 0003 publishes them, but a
    transactional test's flush removes that data for the tests after it."""
    published = timezone.now() - dt.timedelta(days=1)
    for kind in ConsentKind:
        if consent_document_current(kind) is None:
            ConsentDocument.objects.create(
                kind=kind,
                version="test",
                title=f"Consent ({kind.label})",
                body=f"The {kind.label.lower()} consent text.",
                published_at=published,
            )


@pytest.fixture
def clinician(db) -> Clinician:
    return factories.make_clinician(email="maya@clinic.example", full_name="Maya Okafor")


@pytest.fixture
def other_clinician(db) -> Clinician:
    return factories.make_clinician(
        email="sam@clinic.example", full_name="Sam Rivera", time_zone="America/New_York"
    )


@pytest.fixture
def client_record(db) -> Client:
    return factories.make_client(email="ana@example.org", full_name="Ana Silva")


@pytest.fixture
def other_client_record(db) -> Client:
    return factories.make_client(email="ben@example.org", full_name="Ben Carter")


@pytest.fixture
def admin_user(db) -> User:
    return factories.make_admin(email="admin@clinic.example", full_name="Clinic Admin")


@pytest.fixture
def service(clinician: Clinician, other_clinician: Clinician) -> Service:
    return factories.make_service(clinician, other_clinician)


@pytest.fixture
def appointment(service: Service, clinician: Clinician, client_record: Client) -> Appointment:
    """Ana's appointment with Maya; Ben has one with Sam (the "other" personas)."""
    return factories.make_appointment(
        service=service,
        clinician=clinician,
        client=client_record,
        starts_at=dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=3),
    )


@pytest.fixture
def other_appointment(
    service: Service, other_clinician: Clinician, other_client_record: Client
) -> Appointment:
    return factories.make_appointment(
        service=service,
        clinician=other_clinician,
        client=other_client_record,
        starts_at=dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=3),
    )


def signed_in(user: User) -> HttpClient:
    http = HttpClient()
    http.force_login(user)
    return http


def sent_to_sign_in(response) -> bool:
    """Whether a page answered someone signed out by sending them to sign in."""
    return response.status_code == 302 and response["Location"].startswith(reverse("clinic:login"))


@pytest.fixture
def as_client(client_record: Client) -> HttpClient:
    return signed_in(client_record.user)


@pytest.fixture
def as_other_client(other_client_record: Client) -> HttpClient:
    return signed_in(other_client_record.user)


@pytest.fixture
def as_clinician(clinician: Clinician) -> HttpClient:
    return signed_in(clinician.user)


@pytest.fixture
def as_other_clinician(other_clinician: Clinician) -> HttpClient:
    return signed_in(other_clinician.user)


@pytest.fixture
def as_admin(admin_user: User) -> HttpClient:
    return signed_in(admin_user)


@pytest.fixture
def as_stranger() -> HttpClient:
    return HttpClient()


@pytest.fixture
def make_worker(
    settings, smtp_server: SMTPServer, tmp_path: Path
) -> Iterator[Callable[..., CeleryWorker]]:
    """``make_worker(name, pool="solo", **env)``: a real Celery worker (not yet started) on this
    test process's queue and Redis, using the test database and the loopback SMTP server; ``env``
    adds or overrides its environment. Tasks the test queues go to the workers instead of
    running eagerly. They are stopped at the end, and their logs printed (pytest shows them
    with a failure)."""
    database = settings.DATABASES["default"]
    assert str(database["NAME"]).startswith("test_"), database["NAME"]
    workers: list[CeleryWorker] = []

    def make(name: str, *, pool: str = "solo", **extra_env: str) -> CeleryWorker:
        worker = CeleryWorker(
            queue=settings.CELERY_TASK_DEFAULT_QUEUE,
            pool=pool,
            log_path=tmp_path / f"celery-{name}.log",
            env={
                "DJANGO_SETTINGS_MODULE": "telehealth.settings",
                "DATABASE_URL": database_url(database),
                "REDIS_URL": os.environ["REDIS_URL"],
                "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
                "CELERY_TASK_ALWAYS_EAGER": "false",
                "CELERY_TASK_DEFAULT_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
                "SECRET_KEY": settings.SECRET_KEY,
                "SITE_URL": "http://clinic.test",
                "EMAIL_HOST": "127.0.0.1",
                "EMAIL_PORT": str(smtp_server.port),
                "EMAIL_USE_TLS": "false",
                "EMAIL_USE_SSL": "false",
                **extra_env,
            },
        )
        workers.append(worker)
        return worker

    was_eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        yield make
    finally:
        celery_app.conf.task_always_eager = was_eager
        for worker in workers:
            worker.stop()
            print(f"--- {worker.log_path.name} ---\n{worker.log()}")


def session_key_for(user: User) -> str:
    """A signed-in session for ``user``, as the login view would create it."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


def network_address() -> str | None:
    """This machine's IPv4 address on its network (not loopback), or None if it has none.

    Connecting a UDP socket sends nothing: the kernel only picks the source address it would
    use on its route to that (unused, private) address.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 9))
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address  # noqa: S104


@pytest.fixture
def asgi_server(
    request: pytest.FixtureRequest,
    transactional_db,
    settings,
    smtp_server: SMTPServer,
    tmp_path: Path,
) -> Iterator[AsgiServer]:
    """daphne serving the app (HTTP and WebSockets) on the test database and this worker's Redis.

    One option, by indirect parametrization::

        @pytest.mark.parametrize("asgi_server", [{"on_network": True}], indirect=True)

    also serves the machine's network address (``network_address()``) as an allowed host, for
    pages opened from another address than localhost; the server then listens on all
    interfaces. Without an address the test is skipped, saying why. ``{"env": {...}}`` adds
    environment variables for the server. ``{"production": True}`` runs it as production does:
    ``TELEHEALTH_MODE=production`` with safe settings (so DEBUG off, secure cookies, HSTS, https
    redirects), static files collected into ``STATIC_ROOT`` first, and behind a TLS-terminating
    proxy (``BEHIND_TLS_PROXY``): requests that say ``X-Forwarded-Proto: https`` came over TLS.
    """
    options = getattr(request, "param", None) or {}
    extra_env = dict(options.get("env", {}))
    probe_headers = {}
    if options.get("production"):
        extra_env = {
            # The rest of SECURE names services; the test's own are set below.
            **{key: SECURE[key] for key in ("TELEHEALTH_MODE", "SECRET_KEY", "SITE_URL")},
            "BEHIND_TLS_PROXY": "true",
            "STATIC_ROOT": str(tmp_path / "static"),
            **extra_env,
        }
        probe_headers["X-Forwarded-Proto"] = "https"
    host = os.environ.get("TEST_ASGI_HOST", "127.0.0.1")
    allowed_hosts = ["localhost", "127.0.0.1"]
    if options.get("on_network"):
        address = network_address()
        if address is None:
            pytest.skip("This machine has no IPv4 address besides loopback to serve pages on.")
        host = "0.0.0.0"  # noqa: S104
        allowed_hosts.append(address)
    database = settings.DATABASES["default"]
    assert str(database["NAME"]).startswith("test_"), database["NAME"]
    server = AsgiServer(
        log_path=tmp_path / "daphne.log",
        host=host,
        probe_headers=probe_headers,
        env={
            "DJANGO_SETTINGS_MODULE": "telehealth.settings",
            "DATABASE_URL": database_url(database),
            "REDIS_URL": os.environ["REDIS_URL"],
            "SECRET_KEY": settings.SECRET_KEY,
            "ALLOWED_HOSTS": ",".join(allowed_hosts),
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(smtp_server.port),
            "EMAIL_USE_TLS": "false",
            "CELERY_TASK_ALWAYS_EAGER": "true",
            **extra_env,
        },
    )
    settings.SITE_URL = extra_env.get("SITE_URL", server.url)
    server.env["SITE_URL"] = settings.SITE_URL
    if options.get("production"):
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput"],
            cwd=PROJECT_DIR,
            env={**os.environ, **server.env},
            check=True,
            capture_output=True,
        )
    server.start()
    yield server
    server.stop()
    print(f"--- daphne log ({server.log_path}) ---\n{server.log()}")
