"""Who may see what: every page with client data, for every persona.

Ana booked with Maya, Ben with Sam. Maya must never see Ben, Ana must never see Ben's data,
and a stranger (not signed in) is sent to sign in.
"""

import pytest
from django.urls import reverse

from clinic.models import AuditEvent
from sessions.links import manage_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def ana_and_ben(appointment, other_appointment):
    return appointment, other_appointment


def sent_to_sign_in(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(reverse("clinic:login"))


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
    ana_and_ben, as_clinician, as_other_clinician, as_admin, as_client, as_stranger
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
    assert sent_to_sign_in(as_stranger.get(url))
    assert "Ben Carter" not in as_clinician.get(url, {"q": "Ben"}).text


def test_clinician_home_lists_only_their_sessions(
    ana_and_ben, as_clinician, as_other_clinician, as_client, as_stranger
) -> None:
    url = reverse("dashboard:clinician_home")

    assert "Ana Silva" in as_clinician.get(url).text
    assert "Ana Silva" not in as_other_clinician.get(url).text
    assert "Ben Carter" in as_other_clinician.get(url).text
    assert as_client.get(url).status_code == 403
    assert sent_to_sign_in(as_stranger.get(url))


def test_my_care_shows_only_the_signed_in_clients_own_record(
    ana_and_ben, as_client, as_other_client, as_clinician, as_stranger
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
    assert as_clinician.get(url).status_code == 403
    assert sent_to_sign_in(as_stranger.get(url))


def test_my_profile_is_only_for_clients(ana_and_ben, as_client, as_clinician, as_stranger) -> None:
    url = reverse("dashboard:my_profile")

    assert as_client.get(url).status_code == 200
    assert as_clinician.get(url).status_code == 403
    assert sent_to_sign_in(as_stranger.get(url))


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


def test_notes_and_red_flags_can_only_be_written_by_the_clients_clinicians(
    ana_and_ben, as_clinician, as_other_clinician, as_client, as_stranger
) -> None:
    appointment, _ = ana_and_ben
    notes = reverse("dashboard:note_add", args=[appointment.client.uuid])
    red_flag = reverse("dashboard:red_flag_clear", args=[appointment.client.uuid])

    assert as_other_clinician.post(notes, {"body": "Sneaky"}).status_code == 404
    assert as_client.post(notes, {"body": "Sneaky"}).status_code == 403
    assert sent_to_sign_in(as_stranger.post(notes, {"body": "Sneaky"}))
    assert as_other_clinician.post(red_flag).status_code == 404
    assert as_client.post(red_flag).status_code == 403
    assert not appointment.client.notes.exists()

    assert as_clinician.post(notes, {"body": "Tight calves both sides"}).status_code == 302
    assert appointment.client.notes.get().body == "Tight calves both sides"


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
    for persona in (as_clinician, as_client, as_stranger):
        response = persona.get(url)
        assert response.status_code == 302
        assert "Ana Silva" not in response.text
