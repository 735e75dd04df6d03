"""Text a person sends that the database cannot store (a NUL character) is refused in one place,
with the clinic's own 400 page, before any view, session or audit row sees it: never a 500."""

import pytest
from django.urls import reverse

from clinic.models import AuditEvent, ClinicianNote

pytestmark = pytest.mark.django_db

NOT_UNDERSTOOD = "We could not understand that request"


def assert_refused(response) -> None:
    assert response.status_code == 400, response.status_code
    assert NOT_UNDERSTOOD in response.text
    assert "character" in response.text


def test_a_nul_in_the_search_is_refused(as_clinician, appointment) -> None:
    response = as_clinician.get(reverse("dashboard:clients") + "?q=a%00b")

    assert_refused(response)


def test_a_nul_in_a_form_field_is_refused_and_nothing_is_saved(
    as_clinician, appointment, client_record
) -> None:
    url = reverse("dashboard:note_add", args=[client_record.uuid])
    response = as_clinician.post(url, {"body": "knee\x00pain"})

    assert_refused(response)
    assert not ClinicianNote.objects.exists()


def test_a_nul_in_the_user_agent_of_an_audited_page_is_refused(
    as_clinician, appointment, client_record
) -> None:
    url = reverse("dashboard:client_record", args=[client_record.uuid])
    response = as_clinician.get(url, HTTP_USER_AGENT="Mozilla/5.0\x00")

    assert_refused(response)
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        "/login/link/a%00b/",
        "/appointments/manage/a%00b/",
        "/program/pain/a%00b/",
        "/reminders/a%00b/",
        "/book/{service}/with/a%00b/",
    ],
)
def test_a_nul_in_a_path_segment_is_refused(as_clinician, service, path: str) -> None:
    assert_refused(as_clinician.get(path.format(service=service.uuid)))


def test_a_nul_in_the_session_cookie_is_refused(as_stranger) -> None:
    response = as_stranger.get(
        reverse("home"), HTTP_COOKIE="sessionid=" + "a" * 16 + "\x00" + "b" * 15
    )

    assert_refused(response)


def test_ordinary_text_passes(as_clinician, appointment) -> None:
    response = as_clinician.get(reverse("dashboard:clients") + "?q=%C3%81na%20%27%3B--")

    assert response.status_code == 200
