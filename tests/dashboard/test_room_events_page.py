"""The room events of one session, opened from a row of the client's page: loaded into the row
by htmx, or as a page of its own without script. Who may see them is who may see the client.

Ana booked with Maya, Ben with Sam.
"""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from clinic.models import AuditEvent
from sessions.models import RoomEvent, RoomEventKind
from tests.conftest import sent_to_sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def ana_in_the_room(appointment, other_appointment, client_record):
    """Ana joined her session with Maya and was let in; Ben has a session with Sam."""
    at = timezone.now().replace(microsecond=0)
    RoomEvent.objects.create(
        appointment=appointment,
        kind=RoomEventKind.JOINED,
        role="client",
        user=client_record.user,
        at=at,
    )
    RoomEvent.objects.create(
        appointment=appointment,
        kind=RoomEventKind.ADMITTED,
        role="clinician",
        user=appointment.clinician.user,
        at=at + dt.timedelta(seconds=40),
    )
    return appointment


def events_url(appointment) -> str:
    return reverse("dashboard:room_events", args=[appointment.client.uuid, appointment.uuid])


def test_the_clients_clinicians_see_the_events(ana_in_the_room, as_clinician, as_admin) -> None:
    for persona in (as_clinician, as_admin):
        page = persona.get(events_url(ana_in_the_room))
        assert page.status_code == 200
        text = page.content.decode()
        assert "Client: joined" in text
        assert "Clinician: admitted" in text
        assert text.index("Client: joined") < text.index("Clinician: admitted")


def test_nobody_else_sees_them(
    ana_in_the_room, as_other_clinician, as_client, as_other_client, as_stranger
) -> None:
    url = events_url(ana_in_the_room)

    assert as_other_clinician.get(url).status_code == 404
    assert as_client.get(url).status_code == 403
    assert as_other_client.get(url).status_code == 403
    assert sent_to_sign_in(as_stranger.get(url))
    for persona in (as_other_clinician, as_client, as_other_client):
        assert "joined" not in persona.get(url).content.decode()
    assert not AuditEvent.objects.filter(client=ana_in_the_room.client, action="viewed").exists()


def test_a_session_is_found_only_under_its_own_client(
    ana_in_the_room, other_appointment, as_clinician, as_admin, as_other_clinician
) -> None:
    # Ana's address with Ben's session, and Ben's with Ana's: each viewer sees one of the two
    # clients at most, an admin both, and nobody gets one client's session under the other.
    ana, ben = ana_in_the_room.client, other_appointment.client
    mixed = [
        reverse("dashboard:room_events", args=[ana.uuid, other_appointment.uuid]),
        reverse("dashboard:room_events", args=[ben.uuid, ana_in_the_room.uuid]),
    ]
    for persona in (as_clinician, as_admin, as_other_clinician):
        for url in mixed:
            assert persona.get(url).status_code == 404


def test_without_script_a_page_with_the_way_back(ana_in_the_room, as_clinician) -> None:
    text = as_clinician.get(events_url(ana_in_the_room)).content.decode()

    assert "<h1>Room events</h1>" in text
    record = reverse("dashboard:client_record", args=[ana_in_the_room.client.uuid])
    assert "Ana Silva" in text
    assert f'href="{record}#appointments"' in text


def test_htmx_gets_only_the_list_for_the_row(ana_in_the_room, as_clinician) -> None:
    response = as_clinician.get(events_url(ana_in_the_room), headers={"HX-Request": "true"})

    text = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in text
    assert '<ol class="room-events">' in text
    assert "Client: joined" in text


def test_a_session_without_events_says_so(appointment, as_clinician) -> None:
    text = as_clinician.get(events_url(appointment)).content.decode()

    assert "Nothing happened in this session's room." in text


def test_opening_the_events_is_a_view_of_the_record(ana_in_the_room, as_clinician) -> None:
    as_clinician.get(events_url(ana_in_the_room), headers={"HX-Request": "true"})

    assert AuditEvent.objects.filter(
        client=ana_in_the_room.client, action="viewed", object_type="client"
    ).exists()
