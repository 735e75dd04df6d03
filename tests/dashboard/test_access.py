"""Who may see what: every page with client data, for every persona.

Ana booked with Maya, Ben with Sam. Maya must never see Ben, Ana must never see Ben's data,
and a stranger (not signed in) is sent to sign in.
"""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from clinic.models import AuditEvent
from sessions.booking.links import manage_url
from tests.conftest import sent_to_sign_in
from tests.sessions.booking_helpers import booking_data, details_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def ana_and_ben(appointment, other_appointment):
    return appointment, other_appointment


def test_client_record_page(
    ana_and_ben, as_clinician, as_other_clinician, as_admin, as_client, as_other_client, as_stranger
) -> None:
    appointment, _ = ana_and_ben
    url = reverse("dashboard:client_record", args=[appointment.client.uuid])

    seen = as_clinician.get(url)
    assert seen.status_code == 200
    assert "Ana Silva" in seen.text
    assert as_admin.get(url).status_code == 200
    assert as_other_clinician.get(url).status_code == 404
    assert as_client.get(url).status_code == 403
    assert as_other_client.get(url).status_code == 403
    assert sent_to_sign_in(as_stranger.get(url))
    for response in (as_other_clinician.get(url), as_client.get(url), as_other_client.get(url)):
        assert "Ana Silva" not in response.text


def test_client_list_shows_only_a_clinicians_own_clients(
    ana_and_ben,
    as_clinician,
    as_other_clinician,
    as_admin,
    as_client,
    as_other_client,
    as_stranger,
) -> None:
    url = reverse("dashboard:clients")

    maya = as_clinician.get(url).text
    sam = as_other_clinician.get(url).text
    admin = as_admin.get(url).text

    assert "Ana Silva" in maya
    assert "Ben Carter" not in maya
    assert "Ben Carter" in sam
    assert "Ana Silva" not in sam
    assert "Ana Silva" in admin
    assert "Ben Carter" in admin
    assert as_client.get(url).status_code == 403
    assert as_other_client.get(url).status_code == 403
    assert "Ana Silva" not in as_other_client.get(url).text
    assert sent_to_sign_in(as_stranger.get(url))
    assert "Ben Carter" not in as_clinician.get(url, {"q": "Ben"}).text


def test_clinician_home_lists_only_their_sessions(
    ana_and_ben,
    as_clinician,
    as_other_clinician,
    as_admin,
    as_client,
    as_other_client,
    as_stranger,
) -> None:
    url = reverse("dashboard:clinician_home")

    assert "Ana Silva" in as_clinician.get(url).text
    assert "Ana Silva" not in as_other_clinician.get(url).text
    assert "Ben Carter" in as_other_clinician.get(url).text
    # The clinic admin sees every clinician's sessions.
    admin = as_admin.get(url)
    assert admin.status_code == 200
    assert "Ana Silva" in admin.text
    assert "Ben Carter" in admin.text
    for client in (as_client, as_other_client):
        refused = client.get(url)
        assert refused.status_code == 403
        assert "Ana Silva" not in refused.text
    assert sent_to_sign_in(as_stranger.get(url))


def test_the_plan_queue_is_for_staff_only(
    ana_and_ben, as_client, as_other_client, as_stranger
) -> None:
    # Which plans each clinician sees is tested with the queue (tests/dashboard).
    url = reverse("dashboard:plans_waiting")

    assert as_client.get(url).status_code == 403
    assert as_other_client.get(url).status_code == 403
    assert sent_to_sign_in(as_stranger.get(url))


def test_my_care_shows_only_the_signed_in_clients_own_record(
    ana_and_ben, as_client, as_other_client, as_clinician, as_other_clinician, as_admin, as_stranger
) -> None:
    url = reverse("dashboard:my_care")

    ana = as_client.get(url)
    ben = as_other_client.get(url)

    assert ana.status_code == 200
    assert "Ana Silva" in ana.text
    assert "Ben Carter" not in ana.text
    assert ben.status_code == 200
    assert "Ben Carter" in ben.text
    assert "Ana Silva" not in ben.text
    for staff in (as_clinician, as_other_clinician, as_admin):
        assert staff.get(url).status_code == 403
    assert sent_to_sign_in(as_stranger.get(url))


def test_my_profile_is_only_for_clients_and_only_their_own(
    ana_and_ben, as_client, as_other_client, as_clinician, as_other_clinician, as_stranger
) -> None:
    url = reverse("dashboard:my_profile")

    ana = as_client.get(url)
    ben = as_other_client.get(url)

    assert ana.status_code == 200
    assert 'value="Ana Silva"' in ana.text
    assert ben.status_code == 200
    assert 'value="Ben Carter"' in ben.text
    assert "Ana Silva" not in ben.text
    assert as_clinician.get(url).status_code == 403
    assert as_other_clinician.get(url).status_code == 403
    assert as_other_clinician.post(url, {"full_name": "Changed"}).status_code == 403
    assert sent_to_sign_in(as_stranger.get(url))
    assert sent_to_sign_in(as_stranger.post(url, {"full_name": "Changed"}))
    ana_and_ben[0].client.user.refresh_from_db()
    assert ana_and_ben[0].client.user.full_name == "Ana Silva"


@pytest.mark.parametrize("name", ["sessions:join", "sessions:calendar_file"])
def test_appointment_pages(
    ana_and_ben,
    name,
    as_client,
    as_other_client,
    as_clinician,
    as_other_clinician,
    as_admin,
    as_stranger,
) -> None:
    appointment, _ = ana_and_ben
    url = reverse(name, args=[appointment.uuid])

    assert as_client.get(url).status_code == 200
    assert as_clinician.get(url).status_code == 200
    assert as_admin.get(url).status_code == 200
    assert as_other_client.get(url).status_code == 404
    assert as_other_clinician.get(url).status_code == 404
    assert sent_to_sign_in(as_stranger.get(url))


def test_notes_can_only_be_written_by_the_clients_clinicians_and_the_admin(
    ana_and_ben, as_clinician, as_other_clinician, as_admin, as_client, as_other_client, as_stranger
) -> None:
    appointment, _ = ana_and_ben
    notes = reverse("dashboard:note_add", args=[appointment.client.uuid])

    assert as_other_clinician.post(notes, {"body": "Sneaky"}).status_code == 404
    assert as_client.post(notes, {"body": "Sneaky"}).status_code == 403
    assert as_other_client.post(notes, {"body": "Sneaky"}).status_code == 403
    assert sent_to_sign_in(as_stranger.post(notes, {"body": "Sneaky"}))
    assert not appointment.client.notes.exists()
    assert not AuditEvent.objects.exists()

    assert as_clinician.post(notes, {"body": "Tight calves both sides"}).status_code == 302
    # The clinic admin sees every record, and may add to it.
    assert as_admin.post(notes, {"body": "Called to confirm the address"}).status_code == 302
    assert set(appointment.client.notes.values_list("author__email", "body")) == {
        ("maya@clinic.example", "Tight calves both sides"),
        ("admin@clinic.example", "Called to confirm the address"),
    }
    assert set(
        AuditEvent.objects.filter(object_type="clinician_note").values_list(
            "actor_email", "action", "client"
        )
    ) == {
        ("maya@clinic.example", "created", appointment.client.pk),
        ("admin@clinic.example", "created", appointment.client.pk),
    }


def test_only_the_clients_clinicians_clear_a_red_flag(
    ana_and_ben, as_clinician, as_other_clinician, as_client, as_other_client, as_stranger
) -> None:
    appointment, _ = ana_and_ben
    client = appointment.client
    raised = timezone.now().replace(microsecond=0) - dt.timedelta(days=1)
    client.red_flag_raised_at = raised
    client.save(update_fields=["red_flag_raised_at"])
    red_flag = reverse("dashboard:red_flag_clear", args=[client.uuid])

    assert as_other_clinician.post(red_flag).status_code == 404
    assert as_client.post(red_flag).status_code == 403
    assert as_other_client.post(red_flag).status_code == 403
    assert sent_to_sign_in(as_stranger.post(red_flag))
    client.refresh_from_db()
    assert client.red_flag_raised_at == raised
    assert not AuditEvent.objects.exists()

    cleared = as_clinician.post(red_flag, follow=True)

    assert cleared.status_code == 200
    assert "Red flag marked as reviewed." in cleared.text
    assert "Mark as reviewed with the client" not in cleared.text
    client.refresh_from_db()
    assert client.red_flag_raised_at is None
    event = AuditEvent.objects.get(action="updated")
    assert (event.actor_email, event.object_type, event.client, event.changes) == (
        "maya@clinic.example",
        "client",
        client,
        ["red_flag_raised_at"],
    )
    assert event.path == red_flag


def test_private_notes_are_never_shown_to_the_client(ana_and_ben, as_clinician, as_client) -> None:
    appointment, _ = ana_and_ben
    as_clinician.post(
        reverse("dashboard:note_add", args=[appointment.client.uuid]),
        {"body": "Private: anxious about surgery"},
    )

    assert (
        "anxious about surgery"
        in as_clinician.get(reverse("dashboard:client_record", args=[appointment.client.uuid])).text
    )
    assert "anxious about surgery" not in as_client.get(reverse("dashboard:my_care")).text


def test_the_booking_confirmation_is_not_shown_to_staff(
    as_stranger, as_clinician, as_other_clinician, service, clinician
) -> None:
    start = (timezone.now() + dt.timedelta(days=2)).replace(hour=10, minute=0, second=0)
    start = start.replace(microsecond=0)
    booked = as_stranger.post(details_url(service, clinician), booking_data(start))
    assert booked.status_code == 302
    confirmation = booked["Location"]

    assert as_stranger.get(confirmation).status_code == 200
    for staff in (as_clinician, as_other_clinician):
        refused = staff.get(confirmation)
        assert refused.status_code == 404
        assert "Carla Nunes" not in refused.text


def test_only_the_sessions_clinician_lets_a_client_in(
    ana_and_ben, as_client, as_other_client
) -> None:
    appointment, _ = ana_and_ben
    # Ana's own attempts and the clinicians' are tested with the room (tests/sessions).
    url = reverse("sessions:room_admit", args=[appointment.uuid])

    # Ben cannot even learn that the appointment exists; Ana may see it but not admit herself.
    assert as_other_client.post(url).status_code == 404
    assert as_client.post(url).status_code == 403
    appointment.refresh_from_db()
    assert appointment.admitted_at is None


def test_refused_views_are_not_audited_as_views(ana_and_ben, as_other_clinician) -> None:
    appointment, _ = ana_and_ben
    as_other_clinician.get(reverse("dashboard:client_record", args=[appointment.client.uuid]))

    assert not AuditEvent.objects.filter(client=appointment.client, action="viewed").exists()


def test_the_manage_link_only_opens_its_own_appointment(ana_and_ben, as_stranger) -> None:
    appointment, _other = ana_and_ben
    page = as_stranger.get(manage_url(appointment).replace("http://localhost:8000", ""))

    assert page.status_code == 200
    assert "Maya Okafor" in page.text
    assert "Sam Rivera" not in page.text


def test_the_admin_site_is_for_clinic_admins_only(
    ana_and_ben, as_admin, as_clinician, as_client, as_stranger
) -> None:
    appointment, _ = ana_and_ben
    url = reverse("admin:clinic_client_change", args=[appointment.client.pk])

    assert as_admin.get(url).status_code == 200
    for persona in (as_clinician, as_client):
        response = persona.get(url)
        assert response.status_code == 403
        assert "Ana Silva" not in response.text
    response = as_stranger.get(url)
    assert response.status_code == 302
    assert "Ana Silva" not in response.text
