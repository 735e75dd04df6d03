"""When the server cannot serve a request right now: "very busy, try again", never a 500.

Every "not now" from the database or Redis ends in this one module with the same answer: 503 Service
Unavailable with ``Retry-After``, as a page (with a button that sends a form again exactly as it
was) or as JSON for scripts and htmx. Nothing here decides what was saved: each change the site
makes is one transaction, which the failure rolls back before the answer is built.

What counts as "not now" is ``CAUSES`` (add to it):

- the connection pool had no connection free within ``DATABASE_POOL_TIMEOUT_SECONDS``;
- a lock was not granted within ``lock_timeout`` (bookings set ``BOOKING_LOCK_TIMEOUT_MS``);
- a statement ran past ``statement_timeout`` (``DATABASE_STATEMENT_TIMEOUT_MS``);
- the database connection was lost or refused (PostgreSQL restarted or failed over, an admin
  ended the backend, the server is down): PostgreSQL rolls back the transaction the request was
  in, so nothing of it is saved (unless the connection was lost during the COMMIT itself); a
  page being read (GET, HEAD) is read once more on a fresh connection before it comes to this;
- Redis did not answer (the rate limiter's counters, the channel layer, the broker): pages that
  need none of them keep working;

and, before Django, ``RequestQueue``: a request that waited for its turn longer than
``HTTP_QUEUE_TIMEOUT_SECONDS``.

Three routes lead here: ``DatabaseUnavailableMiddleware`` (raised in a view or its template),
``server_error`` (the handler500: raised anywhere else, e.g. in a middleware; Django shows its
debug page instead when DEBUG is on) and ``RequestQueue`` (ASGI, in front of Django).
"""

import asyncio
import io
import logging
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import psycopg
import redis.exceptions
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db import connections as db_connections
from django.db import utils as db_utils
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views import defaults
from kombu import exceptions as kombu_errors
from psycopg import errors as pg_errors
from psycopg_pool import PoolTimeout

from telehealth.middleware import page_headers_set

logger = logging.getLogger(__name__)

BUSY = "We are very busy right now and could not finish this."
INTERRUPTED = "Our systems were interrupted for a moment and could not finish this."


@dataclass(frozen=True)
class Cause:
    """A reason the server cannot serve a request now. ``name`` goes to the log; ``message``
    and ``retry_after`` (seconds; None for BUSY_RETRY_AFTER_SECONDS) to the visitor."""

    name: str
    matches: Callable[[BaseException], bool]
    message: str = BUSY
    retry_after: int | None = None


# AdminShutdown (pg_terminate_backend, a restart), "server closed the connection", "connection
# refused"; Django's own InterfaceError is its "connection already closed" on a connection
# lost earlier. After the lock and statement timeouts in CAUSES, which are OperationalErrors too.
DATABASE_LOST = Cause(
    "database connection lost",
    lambda e: isinstance(e, psycopg.OperationalError | db_utils.InterfaceError),
    INTERRUPTED,
)

CAUSES: list[Cause] = [
    Cause("no database connection free in time", lambda e: isinstance(e, PoolTimeout)),
    Cause("lock not granted in time", lambda e: isinstance(e, pg_errors.LockNotAvailable)),
    Cause("statement timeout", lambda e: isinstance(e, pg_errors.QueryCanceled)),
    DATABASE_LOST,
    Cause(
        "Redis unavailable",
        lambda e: isinstance(e, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError),
        INTERRUPTED,
    ),
    # The broker (Redis) refused a task that could not be left for a beat sweep to make up.
    Cause(
        "task broker unavailable",
        lambda e: isinstance(e, kombu_errors.OperationalError),
        INTERRUPTED,
    ),
]
QUEUE_TIMEOUT = Cause("waited too long for its turn", lambda e: False)


def unavailable_cause(error: BaseException | None) -> Cause | None:
    """The cause in CAUSES behind ``error``, looking through the errors it was raised from
    (Django wraps psycopg's errors in its own), or None for any other error."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        for cause in CAUSES:
            if cause.matches(error):
                return cause
        error = error.__cause__ or error.__context__
    return None


def _wants_json(request: HttpRequest) -> bool:
    accept = request.headers.get("Accept", "")
    return (
        request.headers.get("HX-Request") == "true"
        or request.headers.get("X-Requested-With") == "XMLHttpRequest"
        or request.content_type == "application/json"
        or ("application/json" in accept and "text/html" not in accept)
    )


def _form_to_send_again(request: HttpRequest) -> list[tuple[str, str]]:
    """The fields of a plain form POST, to offer sending it again as it was (files cannot be)."""
    if request.method != "POST" or request.content_type != "application/x-www-form-urlencoded":
        return []
    try:
        return [(name, value) for name, values in request.POST.lists() for value in values]
    except Exception:  # an unreadable body only means no button to send it again
        return []


def unavailable_response(request: HttpRequest, cause: Cause) -> HttpResponse:
    """The answer to a request the server could not serve because of ``cause``. Built without
    the database: a page of its own, not the site's layout, which shows who is signed in."""
    retry_after = cause.retry_after or settings.BUSY_RETRY_AFTER_SECONDS
    if _wants_json(request):
        # The site's JSON errors carry the sentence to show in "error" (as the snapshot upload
        # and the room's admit do).
        response: HttpResponse = JsonResponse(
            {
                "error": f"{cause.message} Please try again in about {retry_after} seconds.",
                "retry_after": retry_after,
            },
            status=503,
        )
    else:
        form = _form_to_send_again(request)
        response = HttpResponse(
            render_to_string(
                "503.html",
                {
                    "message": cause.message,
                    "retry_after": retry_after,
                    "form": form,
                    "form_action": request.get_full_path(),
                    "method": request.method,
                    "clinic_name": settings.CLINIC_NAME,
                },
            ),
            status=503,
        )
    response["Retry-After"] = str(retry_after)
    response["Cache-Control"] = "no-store"
    logger.warning(
        "Service Unavailable (%s): %s %s", cause.name, request.method, request.get_full_path()
    )
    # Logged above as what it is, not as a server error by django.request.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


class DatabaseUnavailableMiddleware:
    """An error of CAUSES in a view or its template becomes the busy answer."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        cause = unavailable_cause(exception)
        if cause is None:
            return None
        if (
            cause is DATABASE_LOST
            and request.method in ("GET", "HEAD")
            and not getattr(request, "_read_again", False)
        ):
            # A page being read when its connection was ended (a failover, a restart) is read
            # once more on a fresh one: reading changes nothing, and the visitor gets the page
            # instead of "try again". A form sent is not: its change may have been committed.
            request._read_again = True  # type: ignore[attr-defined]
            for connection in db_connections.all(initialized_only=True):
                # Back to the pool, which discards a broken connection.
                connection.close()
            logger.warning("Database connection lost; reading %s again", request.path)
            return self.get_response(request)
        return unavailable_response(request, cause)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: an error of CAUSES raised outside a view still gets the busy answer."""
    cause = unavailable_cause(sys.exception())
    if cause is not None:
        return unavailable_response(request, cause)
    return defaults.server_error(request)


# --- Before Django: requests wait their turn -------------------------------------------------

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# A body larger than this is not kept for the "send it again" button of the busy page.
_LARGEST_BODY_KEPT = 256 * 1024


class RequestQueue:
    """ASGI middleware: at most ``at_once`` HTTP requests of this process in Django at a time.

    Django runs each request in a thread of its own, which takes a pooled database connection
    and keeps it until the request ends. With hundreds of requests at once, hundreds of threads
    competed for the pool's few connections and those waiting longer than the pool's timeout
    failed (docs/booking.md). Here the others wait their turn, in order of arrival, in the event
    loop: without a thread or a connection. One that waits longer than ``timeout`` seconds gets
    the busy answer. Static files and the health check do not queue.
    """

    def __init__(
        self, app: ASGIApp, *, at_once: int, timeout: float, exempt: tuple[str, ...]
    ) -> None:
        self.app = app
        self.timeout = timeout
        self.exempt = exempt
        self.turns = asyncio.Semaphore(at_once)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        try:
            async with asyncio.timeout(self.timeout):
                await self.turns.acquire()
        except TimeoutError:
            await self._busy(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.turns.release()

    async def _busy(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            if len(body) <= _LARGEST_BODY_KEPT:
                body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        if len(body) > _LARGEST_BODY_KEPT:
            body = bytearray()
        request = ASGIRequest(scope, io.BytesIO(bytes(body)))
        response = unavailable_response(request, QUEUE_TIMEOUT)
        page_headers_set(response)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.items()]
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": headers}
        )
        await send({"type": "http.response.body", "body": response.content})
