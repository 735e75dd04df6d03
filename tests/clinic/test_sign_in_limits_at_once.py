"""Sign-in limits hold when the attempts arrive at the same moment, not only one after another.

Each attempt is a real request in a thread of its own (its own database connection and Redis
connection), all released together, as a script hammering the form would send them.
"""

import threading
from collections.abc import Callable
from functools import partial

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.test import Client as HttpClient
from django.urls import reverse

from clinic.models import AuditEvent, SignInLink
from tests.concurrency import at_once

pytestmark = pytest.mark.django_db(transaction=True)

ATTEMPTS = 20


@pytest.fixture
def password_checks(monkeypatch) -> Callable[[], int]:
    """How many times a stored password was really checked (argon2 run against a hash)."""
    checks = 0
    lock = threading.Lock()
    verify = Argon2PasswordHasher.verify

    def counted(self, password: str, encoded: str) -> bool:
        nonlocal checks
        with lock:
            checks += 1
        return verify(self, password, encoded)

    monkeypatch.setattr(Argon2PasswordHasher, "verify", counted)
    return lambda: checks


def staff_sign_in(email: str, password: str, address: str):
    return HttpClient(REMOTE_ADDR=address).post(
        reverse("clinic:staff_sign_in"), {"email": email, "password": password}
    )


def request_link(email: str, address: str):
    return HttpClient(REMOTE_ADDR=address).post(
        reverse("clinic:sign_in_link_request"), {"email": email}
    )


def statuses(responses) -> list[int]:
    return sorted(response.status_code for response in responses)


@pytest.fixture(params=["redis", "in-memory"])
def shared_cache(request, settings) -> str:
    """Redis (production), or the in-memory cache of the demo, which runs without Redis."""
    if request.param == "in-memory":
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                "LOCATION": "sign-in-limits-at-once",
            }
        }
    return request.param


def test_wrong_passwords_at_once_check_no_more_than_the_limit(
    clinician, password_checks, shared_cache
) -> None:
    # From different addresses, so that only the account's limit (5) applies.
    responses, raised = at_once(
        [
            partial(staff_sign_in, "maya@clinic.example", f"guess-{n}", f"203.0.113.{n}")
            for n in range(ATTEMPTS)
        ]
    )

    assert raised == []
    assert password_checks() == 5
    assert statuses(responses) == [400] * 5 + [429] * (ATTEMPTS - 5)
    refused = [response for response in responses if response.status_code == 429]
    assert all("Too many failed sign-in attempts" in r.text for r in refused)
    assert AuditEvent.objects.filter(action="sign_in_failed").count() == 5
    # The account stays locked for the window, even with the right password.
    locked = staff_sign_in("maya@clinic.example", "a-long-clinician-password", "198.51.100.1")
    assert locked.status_code == 429
    assert password_checks() == 5


def test_wrong_passwords_at_once_from_one_address_check_no_more_than_its_limit(
    db, settings
) -> None:
    settings.LOGIN_FAILURES_PER_IP = 5
    # Different (unknown) accounts, so that only the address's limit applies.
    responses, raised = at_once(
        [
            partial(staff_sign_in, f"person{n}@example.org", "guess", "192.0.2.50")
            for n in range(ATTEMPTS)
        ]
    )

    assert raised == []
    assert statuses(responses) == [400] * 5 + [429] * (ATTEMPTS - 5)
    assert AuditEvent.objects.filter(action="sign_in_failed").count() == 5


def test_link_requests_at_once_send_no_more_links_than_the_limit(client_record, inbox) -> None:
    responses, raised = at_once(
        [partial(request_link, "ana@example.org", f"203.0.113.{n}") for n in range(ATTEMPTS)]
    )

    assert raised == []
    assert statuses(responses) == [200] * 5 + [429] * (ATTEMPTS - 5)
    assert SignInLink.objects.count() == 5
    assert len(inbox.to("ana@example.org")) == 5


def test_link_requests_at_once_from_one_address_stay_within_its_limit(
    client_record, settings, inbox
) -> None:
    settings.SIGN_IN_LINKS_PER_IP_PER_HOUR = 3
    responses, raised = at_once(
        [partial(request_link, f"person{n}@example.org", "198.51.100.7") for n in range(ATTEMPTS)]
    )

    assert raised == []
    assert statuses(responses) == [200] * 3 + [429] * (ATTEMPTS - 3)
    refused = [response for response in responses if response.status_code == 429]
    assert all("from your network" in response.text for response in refused)
