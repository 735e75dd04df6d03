"""Every security header and cookie flag on real answers of the server as production runs it:
daphne in production mode (DEBUG off) behind a TLS-terminating proxy that says
``X-Forwarded-Proto: https``."""

import http.client
import re
from collections.abc import Mapping
from dataclasses import dataclass
from http.cookies import SimpleCookie

import pytest

from clinic.models import Clinician
from tests.asgi_server import AsgiServer

pytestmark = pytest.mark.django_db(transaction=True)

PRODUCTION = {"production": True}
PASSWORD = "a-long-clinician-password"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: http.client.HTTPMessage
    text: str

    def header(self, name: str) -> str:
        value = self.headers.get(name)
        assert value is not None, f"no {name} header"
        return value

    def cookies(self) -> dict[str, str]:
        """Each Set-Cookie line by the cookie's name."""
        lines = self.headers.get_all("Set-Cookie") or []
        return {line.split("=", 1)[0]: line for line in lines}


def fetch(
    server: AsgiServer,
    path: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: str = "",
    over_tls: bool = True,
) -> Answer:
    """One request as the proxy passes it on (``over_tls``: the browser came over https)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request(
            method,
            path,
            body=body.encode(),
            headers={
                "Host": f"localhost:{server.port}",
                **({"X-Forwarded-Proto": "https"} if over_tls else {}),
                **(headers or {}),
            },
        )
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read().decode(errors="replace"))
    finally:
        connection.close()


def assert_security_headers(answer: Answer) -> None:
    hsts = answer.header("Strict-Transport-Security")
    assert re.fullmatch(r"max-age=(\d+); includeSubDomains; preload", hsts), hsts
    assert int(hsts.split(";")[0].removeprefix("max-age=")) >= 31536000
    csp = answer.header("Content-Security-Policy")
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp
    assert answer.header("X-Content-Type-Options") == "nosniff"
    assert answer.header("Referrer-Policy") == "same-origin"
    assert answer.header("X-Frame-Options") == "DENY"
    assert answer.header("Cross-Origin-Opener-Policy") == "same-origin"
    policy = dict(
        part.strip().split("=", 1) for part in answer.header("Permissions-Policy").split(",")
    )
    # The call needs the camera and microphone, on the site's own pages only.
    assert policy["camera"] == "(self)"
    assert policy["microphone"] == "(self)"
    for feature in ("geolocation", "payment", "usb", "serial", "bluetooth", "display-capture"):
        assert policy[feature] == "()", feature


def assert_cookie_locked_down(line: str) -> None:
    attributes = {part.strip().split("=")[0].lower() for part in line.split(";")[1:]}
    assert "secure" in attributes, line
    assert "httponly" in attributes, line
    assert re.search(r";\s*SameSite=(Lax|Strict)", line, re.IGNORECASE), line


@pytest.mark.parametrize("asgi_server", [PRODUCTION], indirect=True)
def test_every_answer_in_production_has_the_security_headers(asgi_server: AsgiServer) -> None:
    answers = {
        "home": fetch(asgi_server, "/"),
        "sign-in page": fetch(asgi_server, "/login/"),
        "a private page, to sign in": fetch(asgi_server, "/clinic/"),
        "a missing page": fetch(asgi_server, "/no-such-page/"),
        "text refused": fetch(asgi_server, "/clinic/clients/?q=a%00b"),
        "a form without its token": fetch(
            asgi_server,
            "/login/staff/",
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body="email=a%40example.org&password=x",
        ),
    }

    assert answers["home"].status == 200
    assert answers["sign-in page"].status == 200
    assert answers["a private page, to sign in"].status == 302
    assert answers["a missing page"].status == 404
    assert answers["text refused"].status == 400
    assert answers["a form without its token"].status == 403
    for name, answer in answers.items():
        try:
            assert_security_headers(answer)
        except AssertionError as error:
            raise AssertionError(f"{name}: {error}") from error


@pytest.mark.parametrize("asgi_server", [PRODUCTION], indirect=True)
def test_plain_http_is_sent_to_https(asgi_server: AsgiServer) -> None:
    answer = fetch(asgi_server, "/login/?next=/clinic/", over_tls=False)

    assert answer.status == 301
    assert answer.header("Location") == f"https://localhost:{asgi_server.port}/login/?next=/clinic/"


@pytest.mark.parametrize("asgi_server", [PRODUCTION], indirect=True)
def test_the_session_and_csrf_cookies_are_secure_httponly_and_same_site(
    asgi_server: AsgiServer, clinician: Clinician
) -> None:
    page = fetch(asgi_server, "/login/")
    csrf_line = page.cookies()["csrftoken"]
    assert_cookie_locked_down(csrf_line)
    token = SimpleCookie(csrf_line)["csrftoken"].value
    form_token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)

    signed_in = fetch(
        asgi_server,
        "/login/staff/",
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={token}",
            "Origin": f"https://localhost:{asgi_server.port}",
        },
        body=f"csrfmiddlewaretoken={form_token}&email=maya%40clinic.example&password={PASSWORD}",
    )

    assert signed_in.status == 302, signed_in.text[:500]
    assert_security_headers(signed_in)
    cookies = signed_in.cookies()
    assert_cookie_locked_down(cookies["sessionid"])
    # Signing in rotates the CSRF token: the new cookie is as locked down.
    assert_cookie_locked_down(cookies["csrftoken"])
