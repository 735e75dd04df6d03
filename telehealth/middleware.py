import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

logger = logging.getLogger(__name__)

# Scripts only from our own origin: no inline script can run even if a page were to echo
# unescaped input. Inline styles stay allowed because the admin relies on them.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'self'",
        "object-src 'none'",
    ]
)


# Browser features a page may use: the call needs the camera and the microphone, and only the
# site's own pages may ask for them (never a frame of another origin); everything else a
# hostile script could reach for is off. Only features Chromium knows are listed, as it
# reports every unknown one in the console.
PERMISSIONS_POLICY = ", ".join(
    [
        "camera=(self)",
        "microphone=(self)",
        "fullscreen=(self)",
        "accelerometer=()",
        "bluetooth=()",
        "display-capture=()",
        "geolocation=()",
        "gyroscope=()",
        "hid=()",
        "idle-detection=()",
        "magnetometer=()",
        "midi=()",
        "payment=()",
        "publickey-credentials-get=()",
        "serial=()",
        "usb=()",
        "xr-spatial-tracking=()",
    ]
)


def page_headers_set(response: HttpResponse) -> HttpResponse:
    """The headers of ours that Django's SecurityMiddleware does not send (it sends HSTS,
    nosniff, Referrer-Policy and Cross-Origin-Opener-Policy)."""
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    return response


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return page_headers_set(self.get_response(request))


# PostgreSQL cannot store a NUL (character 0) in text, and no browser puts one in what a person
# types, an address or a header: refused here, once, rather than in every view (a search, a
# form, the session cookie and the audit log's User-Agent each failed with a 500).
REFUSED_CHARACTERS = frozenset("\x00")
REFUSED_TEXT = (
    "It contained a character that text cannot hold (a NUL, character number 0), which no "
    "keyboard types."
)


def request_text_problem(request: HttpRequest) -> str | None:
    """Which part of the request carries a refused character ("the address", "the form", a
    header's name), or None when all its text can be kept."""

    def refused(text: str) -> bool:
        return not REFUSED_CHARACTERS.isdisjoint(text)

    if refused(request.path):
        return "the address"
    if any(refused(name) or refused(value) for name, value in _items(request.GET)):
        return "the address"
    for key, value in request.META.items():
        if key.startswith("HTTP_") and isinstance(value, str) and refused(value):
            return key.removeprefix("HTTP_").replace("_", "-").title()
    if request.method == "POST":
        fields = _items(request.POST)
        files = [(name, upload.name or "") for name, upload in _items(request.FILES)]
        if any(refused(name) or refused(value) for name, value in [*fields, *files]):
            return "the form"
    return None


def _items(data) -> list:
    return [(name, value) for name, values in data.lists() for value in values]


class RequestTextMiddleware:
    """The one place text sent to the site is checked (socket frames are checked by their
    consumers): a request carrying a refused character gets the clinic's 400 page before any
    session, view or audit row reads it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (part := request_text_problem(request)) is not None:
            logger.warning("Bad Request (refused character in %s): %s", part, request.path)
            response = render(request, "400.html", {"reason": REFUSED_TEXT}, status=400)
            # Logged above with the reason, not again by django.request.
            response._has_been_logged = True  # type: ignore[attr-defined]
            return response
        return self.get_response(request)
