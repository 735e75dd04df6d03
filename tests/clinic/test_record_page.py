"""The clinician's page of a client's record shows what the client gave when booking."""

import datetime as dt
import html

import pytest
import time_machine
from django.urls import reverse

from clinic.models import Client
from tests.conftest import MONDAY_MORNING
from tests.sessions.booking_helpers import booking_data, details_url

pytestmark = pytest.mark.django_db

TEN_AM_LONDON = dt.datetime(2026, 6, 8, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def carla(as_stranger, service, clinician) -> Client:
    """Carla booked with Maya through the booking pages, with the optional images consent."""
    with time_machine.travel(MONDAY_MORNING, tick=False):
        response = as_stranger.post(
            details_url(service, clinician),
            booking_data(
                TEN_AM_LONDON,
                knee_locking="on",
                consent_images="on",
                aggravating_other="Getting out of the car",
            ),
            REMOTE_ADDR="198.51.100.23",
        )
    assert response.status_code == 302
    return Client.objects.get(user__email="carla@example.org")


def visible_text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.mark.parametrize("persona", ["as_clinician", "as_admin"])
def test_the_record_page_shows_profile_intake_consents_and_appointments(
    request, persona, carla
) -> None:
    page = request.getfixturevalue(persona).get(
        reverse("dashboard:client_record", args=[carla.uuid])
    )

    assert page.status_code == 200
    text = visible_text(page)
    # Profile
    for shown in (
        "Carla Nunes",
        "carla@example.org",
        "+351 21 000 0000",
        "14 Sep 1987",
        "Europe/Lisbon",
        "Rui Nunes +351 21 000 0001",
    ):
        assert shown in text, shown
    # Intake, with the red flag it raised
    for shown in (
        "Left knee",
        "6 weeks to 3 months",
        "5 / 10",
        "Stairs, Running; Getting out of the car",
        "Sprained left ankle in 2021",
        "Knee locks or gets stuck",
        "Mark as reviewed with the client",
    ):
        assert shown in text, shown
    # Both consents: which version, when (08:00 on Maya's London clock), the name typed, that
    # nobody was signed in, and from where
    assert (
        "Consent to telehealth consultation, version 2026-01: accepted 8 Jun 2026, 08:00 "
        "by Carla Nunes (booked without signing in) from 198.51.100.23"
    ) in " ".join(text.split())
    assert "Consent to still images of movement tests, version 2026-01" in text
    # Appointment history
    assert "Virtual assessment" in text
    assert "Maya Okafor" in text
    assert "Confirmed" in text
