"""End-to-end fixtures: the live server, a real Celery worker and headless Chromium.

About Django's SynchronousOnlyOperation: Playwright's sync API drives an asyncio event loop
from the test's thread and marks it as running between calls, and Django refuses ORM calls
from a thread with a running loop. Rather than setting DJANGO_ALLOW_ASYNC_UNSAFE (which
switches the check off process-wide, so also for the live server's threads, where it guards
the application itself), the browser is not a fixture that lives for the whole test:
``open_browser`` is a context manager the test enters for the browser part only. The ORM is
used before it (setting up rows) and after it (checking the database), never inside; the
appointment the browser creates is known inside by the UUID in the confirmation page's URL.
"""

import contextlib
import dataclasses
import datetime as dt
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, expect, sync_playwright

from clinic.models import Client, Clinician
from sessions.models import Service
from tests import factories
from tests.asgi_server import AsgiServer
from tests.celery_worker import CeleryWorker
from tests.conftest import session_key_for
from tests.tcp_proxy import TcpProxy

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
# Generous for a loaded machine, short enough that a stuck step fails well inside a minute.
ACTION_TIMEOUT_MS = 10_000

OpenBrowser = Callable[..., contextlib.AbstractContextManager[BrowserContext]]
LaunchBrowser = Callable[..., contextlib.AbstractContextManager[Browser]]


@pytest.fixture(autouse=True)
def _patient_expect() -> Iterator[None]:
    # Playwright's default of 5 s is short for pages that start cameras on a loaded machine.
    expect.set_options(timeout=ACTION_TIMEOUT_MS)
    yield
    expect.set_options(timeout=None)


@pytest.fixture
def site_url(live_server: Any, settings: Any) -> str:
    """The live server's address, also as SITE_URL for links built in this process."""
    settings.SITE_URL = live_server.url
    return live_server.url


@pytest.fixture
def celery_worker(
    transactional_db: None, site_url: str, make_worker: Callable[..., CeleryWorker]
) -> CeleryWorker:
    """A real worker on this test process's broker and queue, using the test database.

    Tasks the live server queues are no longer run eagerly in the test process: they go
    through Redis to the worker, which sends its emails to the loopback SMTP server.
    """
    worker = make_worker("worker", SITE_URL=site_url)
    worker.start(purge=True)
    return worker


@pytest.fixture
def open_browser(tmp_path: Path) -> OpenBrowser:
    """``with open_browser(timezone_id=...) as context:`` headless Chromium, fresh profile.

    Keyword arguments go to the browser context (timezone_id, java_script_enabled, ...).
    Do not touch the ORM inside the ``with`` block (see this module's docstring).
    """
    profiles = itertools.count(1)

    @contextlib.contextmanager
    def open_context(**options: Any) -> Iterator[BrowserContext]:
        profile = tmp_path / f"chromium-profile-{next(profiles)}"
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                args=CHROMIUM_ARGS,
                headless=True,
                **options,
            )
            context.set_default_timeout(ACTION_TIMEOUT_MS)
            try:
                yield context
            except BaseException:
                for number, page in enumerate(context.pages):
                    with contextlib.suppress(Exception):
                        shot = tmp_path / f"failure-page-{number}.png"
                        page.screenshot(path=shot, full_page=True)
                        print(f"Screenshot of {page.url} at failure: {shot}")
                raise
            finally:
                context.close()

    return open_context


@pytest.fixture
def launch_browser(tmp_path: Path) -> LaunchBrowser:
    """``with launch_browser() as browser:`` headless Chromium for tests with several people.

    Each person gets their own ``browser.new_context()`` (own cookies and storage), which take
    ``ACTION_TIMEOUT_MS`` as their default timeout. ``args`` replaces CHROMIUM_ARGS. As with
    ``open_browser``, do not touch the ORM inside the ``with`` block.
    """

    @contextlib.contextmanager
    def launch(*, args: Sequence[str] = CHROMIUM_ARGS) -> Iterator[Browser]:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=list(args), headless=True
            )
            browser.on("context", lambda context: context.set_default_timeout(ACTION_TIMEOUT_MS))
            try:
                yield browser
            except BaseException:
                shots = itertools.count(1)
                for context in browser.contexts:
                    for page in context.pages:
                        with contextlib.suppress(Exception):
                            shot = tmp_path / f"failure-page-{next(shots)}.png"
                            page.screenshot(path=shot, full_page=True)
                            print(f"Screenshot of {page.url} at failure: {shot}")
                raise
            finally:
                browser.close()

    return launch


# --- A session room on the live server ------------------------------------------------------


@dataclass(frozen=True)
class Room:
    server: AsgiServer
    uuid: str
    client_session: str
    clinician_session: str

    @property
    def path(self) -> str:
        return f"/appointments/{self.uuid}/join/"

    @property
    def url(self) -> str:
        return f"{self.server.url}{self.path}"


def make_room(
    server: AsgiServer,
    *,
    service: Service,
    clinician: Clinician,
    client: Client,
    starts_in: dt.timedelta,
) -> Room:
    appointment = factories.make_appointment(
        service=service,
        clinician=clinician,
        client=client,
        starts_at=dt.datetime.now(dt.UTC).replace(microsecond=0) + starts_in,
    )
    return Room(
        server=server,
        uuid=str(appointment.uuid),
        client_session=session_key_for(client.user),
        clinician_session=session_key_for(clinician.user),
    )


@pytest.fixture
def room(
    asgi_server: AsgiServer,
    service: Service,
    clinician: Clinician,
    client_record: Client,
    library: None,
) -> Room:
    """Ana's appointment with Maya, starting in five minutes: the room is open."""
    return make_room(
        asgi_server,
        service=service,
        clinician=clinician,
        client=client_record,
        starts_in=dt.timedelta(minutes=5),
    )


# --- Several web processes behind a proxy ----------------------------------------------------


@pytest.fixture
def second_server(asgi_server: AsgiServer, tmp_path: Path) -> Iterator[AsgiServer]:
    """Another daphne process on the same database, Redis and SECRET_KEY."""
    server = AsgiServer(
        env=asgi_server.env, log_path=tmp_path / "daphne-2.log", host=asgi_server.host
    )
    server.start()
    yield server
    server.stop()
    print(f"--- second daphne log ---\n{server.log()}")


@pytest.fixture
def proxy(asgi_server: AsgiServer, second_server: AsgiServer) -> Iterator[TcpProxy]:
    with TcpProxy([("127.0.0.1", asgi_server.port), ("127.0.0.1", second_server.port)]) as running:
        yield running


@pytest.fixture
def proxied_room(room: Room, proxy: TcpProxy) -> Room:
    """The room as browsers reach it: through the proxy."""
    return dataclasses.replace(room, server=proxy)  # type: ignore[arg-type]
