"""Clients are created or matched by email, also when the same new email arrives twice at once."""

import time
from functools import partial

import pytest
from django.db import transaction

from clinic.audit import SYSTEM
from clinic.models import AuditEvent, Client, User
from clinic.services import client_find_or_create
from tests.concurrency import at_once

NEW_EMAIL = "dora@example.org"


def find_or_create_at_once(attempts: int) -> tuple[list[Client], list[Exception]]:
    """``attempts`` threads look up the same new email together, each on its own connection.

    Each keeps its transaction open for a moment after the call, as a booking does while it
    books the appointment, so every thread looks before the first one commits.
    """

    def attempt(number: int) -> Client:
        with transaction.atomic():
            client = client_find_or_create(
                email=NEW_EMAIL.upper() if number % 2 else NEW_EMAIL,
                full_name=f"Dora {number}",
                time_zone="Europe/Lisbon",
                actor=None,
                context=SYSTEM,
                details={"phone": f"+351 21 000 000{number}"},
            )
            time.sleep(0.3)
        return client

    return at_once([partial(attempt, number) for number in range(attempts)])


@pytest.mark.django_db(transaction=True)
def test_the_same_new_email_at_the_same_moment_makes_one_client() -> None:
    found, failed = find_or_create_at_once(6)

    assert failed == []
    assert len(found) == 6
    assert len({client.pk for client in found}) == 1
    user = User.objects.get(email=NEW_EMAIL)
    client = Client.objects.get(user=user)
    assert Client.objects.count() == 1
    # Whoever came first created the record; the others only matched it.
    assert AuditEvent.objects.filter(object_type="client", action="created").count() == 1
    assert client.phone.startswith("+351 21 000 000")
    assert user.full_name == f"Dora {client.phone[-1]}"
