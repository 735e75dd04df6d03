"""Booking through the pages: the happy path, a taken slot, and bad input."""

import datetime as dt
import re

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinic.models import AuditEvent, Client, Consent, Intake, User
from sessions.models import Appointment, AppointmentStatus
from tests import factories
from tests.conftest import MONDAY_MORNING
from tests.sessions.booking_helpers import booking_data, details_url, iso

pytestmark = pytest.mark.django_db

# Maya works 09:00-17:00 London time (UTC+1 in June); it is Monday 08:00 in London.
TEN_AM_LONDON = dt.datetime(2026, 6, 8, 9, 0, tzinfo=dt.UTC)
ELEVEN_AM_LONDON = TEN_AM_LONDON + dt.timedelta(hours=1)


@pytest.fixture(autouse=True)
def monday_morning():
    with time_machine.travel(MONDAY_MORNING, tick=False):
        yield


def test_the_steps_lead_from_service_to_a_time(as_stranger, service, clinician) -> None:
    services = as_stranger.get(reverse("sessions:services"))
    assert services.status_code == 200
    assert "Virtual assessment" in services.text

    clinicians = as_stranger.get(reverse("sessions:book_clinicians", args=[service.uuid]))
    assert "Maya Okafor" in clinicians.text
    assert "Any clinician" in clinicians.text

    week = as_stranger.get(
        reverse("sessions:book_slots", args=[service.uuid, clinician.uuid]), {"tz": "Europe/London"}
    )
    assert week.status_code == 200
    # The first start at least 120 minutes from 08:00 London time, shown on the viewer's clock.
    assert f"clinician={clinician.uuid}&amp;start=2026-06-08T09%3A00%3A00Z" in week.text
    assert ">10:00<" in week.text
    assert "2026-06-08T08%3A45%3A00Z" not in week.text  # 09:45 today is inside the notice


def test_the_week_is_shown_in_the_viewers_time_zone(as_stranger, service, clinician) -> None:
    week = as_stranger.get(
        reverse("sessions:book_slots", args=[service.uuid, clinician.uuid]),
        {"tz": "America/New_York"},
    )
    # 10:00 in London is 05:00 in New York.
    assert ">05:00<" in week.text
    assert "Times in America/New_York" in week.text
    assert week.cookies["tz"].value == "America/New_York"


def test_htmx_week_navigation_returns_only_the_week(as_stranger, service, clinician) -> None:
    url = reverse("sessions:book_slots", args=[service.uuid, clinician.uuid])
    partial = as_stranger.get(url, {"week": "2026-06-15"}, headers={"HX-Request": "true"})
    assert partial.status_code == 200
    assert "<html" not in partial.text
    assert "Monday<br><span>15 June" in partial.text


def test_booking_creates_the_record_the_appointment_and_the_audit_trail(
    as_stranger, service, clinician
) -> None:
    response = as_stranger.post(details_url(service, clinician), booking_data(TEN_AM_LONDON))

    appointment = Appointment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("sessions:book_confirmed", args=[appointment.uuid])
    client = Client.objects.get(user__email="carla@example.org")
    assert client.user.full_name == "Carla Nunes"
    assert client.user.time_zone == "Europe/Lisbon"
    assert client.emergency_contact_name == "Rui Nunes"
    assert appointment.client == client
    assert appointment.clinician == clinician
    assert appointment.starts_at == TEN_AM_LONDON
    assert appointment.ends_at == TEN_AM_LONDON + dt.timedelta(minutes=45)
    assert appointment.blocked_until == TEN_AM_LONDON + dt.timedelta(minutes=60)
    assert appointment.status == AppointmentStatus.CONFIRMED
    assert appointment.intake.pain_now == 5
    assert appointment.intake.aggravating_activities == ["stairs", "running"]
    consent = Consent.objects.get(client=client)
    assert consent.document.kind == "telehealth"
    assert consent.signed_name == "Carla Nunes"
    assert consent.ip_address == "127.0.0.1"
    assert set(AuditEvent.objects.filter(client=client).values_list("object_type", "action")) == {
        ("client", "created"),
        ("intake", "created"),
        ("consent", "created"),
        ("appointment", "created"),
    }

    confirmation = as_stranger.get(response["Location"])
    assert confirmation.status_code == 200
    # 10:00 in London is 10:00 in Lisbon too in June; the page uses the client's zone.
    assert "Monday 8 June 2026, 10:00" in confirmation.text
    assert "Europe/Lisbon" in confirmation.text
    assert "seek in-person care" not in confirmation.text


def test_a_red_flag_tells_the_client_to_seek_in_person_care_and_flags_the_record(
    as_stranger, service, clinician
) -> None:
    response = as_stranger.post(
        details_url(service, clinician),
        booking_data(TEN_AM_LONDON, hot_swollen_joint="on", fever="on"),
        follow=True,
    )

    assert "Please also seek in-person care" in response.text
    assert "hot, swollen knee, fever or feeling unwell" in response.text
    client = Client.objects.get(user__email="carla@example.org")
    assert client.red_flag_raised_at == MONDAY_MORNING
    assert Appointment.objects.filter(client=client).exists()


def test_an_existing_client_is_matched_by_email_and_keeps_their_details(
    as_stranger, service, clinician, client_record
) -> None:
    as_stranger.post(
        details_url(service, clinician),
        booking_data(
            TEN_AM_LONDON,
            email="ANA@example.org",
            full_name="Someone Else",
            phone="+1 555 0100",
            emergency_contact_name="Not Ana's contact",
        ),
    )

    assert User.objects.filter(email__iexact="ana@example.org").count() == 1
    client_record.refresh_from_db()
    assert client_record.user.full_name == "Ana Silva"
    assert client_record.phone == "+44 20 7946 0123"
    # A blank field is filled in, a filled one is never overwritten by an unauthenticated form.
    assert client_record.emergency_contact_name == "Not Ana's contact"
    assert Appointment.objects.get().client == client_record


def test_booking_with_a_clients_email_without_signing_in_is_not_recorded_as_the_client(
    as_stranger, as_admin, service, clinician, client_record
) -> None:
    response = as_stranger.post(
        details_url(service, clinician),
        booking_data(TEN_AM_LONDON, email="ana@example.org", full_name="Someone Else"),
        REMOTE_ADDR="203.0.113.9",
    )

    assert response.status_code == 302
    # Anyone can type an email: the consent is kept with the name typed, the address and the
    # time, but nobody is recorded as having accepted it while signed in.
    consent = Consent.objects.get(client=client_record)
    assert consent.accepted_by is None
    assert consent.signed_name == "Someone Else"
    assert consent.ip_address == "203.0.113.9"
    assert consent.accepted_at == MONDAY_MORNING
    events = AuditEvent.objects.filter(client=client_record)
    # The blank emergency contact was filled in (test_an_existing_client_is_matched_by_email...).
    assert set(events.values_list("object_type", flat=True)) == {
        "client",
        "intake",
        "consent",
        "appointment",
    }
    assert set(events.values_list("actor", "actor_email")) == {(None, "")}
    # The admin says so rather than leaving a blank.
    record = as_admin.get(reverse("admin:clinic_client_change", args=[client_record.pk]))
    assert "Booked without signing in" in record.text
    log = as_admin.get(reverse("admin:clinic_auditevent_changelist"))
    assert log.text.count("Not signed in") == 4


def test_a_signed_in_clients_consent_names_their_account(
    as_client, service, clinician, client_record
) -> None:
    as_client.post(details_url(service, clinician), booking_data(TEN_AM_LONDON))

    consent = Consent.objects.get(client=client_record)
    assert consent.accepted_by == client_record.user
    assert set(AuditEvent.objects.filter(client=client_record).values_list("actor", flat=True)) == {
        client_record.user.pk
    }


def test_a_signed_in_client_books_into_their_own_record(
    as_client, client_record, service, clinician
) -> None:
    form = as_client.get(details_url(service, clinician, TEN_AM_LONDON))
    assert 'value="ana@example.org"' in form.text

    as_client.post(
        details_url(service, clinician), booking_data(TEN_AM_LONDON, email="other@example.org")
    )

    assert Appointment.objects.get().client == client_record
    assert not User.objects.filter(email="other@example.org").exists()


def test_a_staff_email_cannot_book_as_a_client(
    as_stranger, service, clinician, other_clinician
) -> None:
    response = as_stranger.post(
        details_url(service, clinician),
        booking_data(TEN_AM_LONDON, email=other_clinician.user.email),
    )

    assert response.status_code == 400
    assert "belongs to a clinic staff account" in response.text
    assert not Appointment.objects.exists()


def test_a_taken_slot_keeps_everything_entered_and_offers_fresh_times(
    as_stranger, service, clinician, other_client_record
) -> None:
    factories.make_appointment(
        service=service, clinician=clinician, client=other_client_record, starts_at=TEN_AM_LONDON
    )

    response = as_stranger.post(details_url(service, clinician), booking_data(TEN_AM_LONDON))

    assert response.status_code == 409
    assert "this time was just taken" in response.text
    assert 'value="Carla Nunes"' in response.text
    assert "Sprained left ankle in 2021" in response.text
    # Fresh choices; 10:00 (taken) and 10:15-10:45 (its buffer) are not among them.
    assert f'value="{iso(TEN_AM_LONDON + dt.timedelta(hours=1))}"' in response.text
    assert f'value="{iso(TEN_AM_LONDON)}"' not in response.text
    # Nothing half-saved: no new client, intake or consent.
    assert not User.objects.filter(email="carla@example.org").exists()
    assert not Intake.objects.filter(client__user__email="carla@example.org").exists()

    retry = as_stranger.post(details_url(service, clinician), booking_data(ELEVEN_AM_LONDON))
    assert retry.status_code == 302
    assert (
        Appointment.objects.filter(client__user__email="carla@example.org").get().starts_at
        == ELEVEN_AM_LONDON
    )


def test_opening_the_form_for_a_time_that_is_gone_says_so(
    as_stranger, service, clinician, other_client_record
) -> None:
    factories.make_appointment(
        service=service, clinician=clinician, client=other_client_record, starts_at=TEN_AM_LONDON
    )

    response = as_stranger.get(details_url(service, clinician, TEN_AM_LONDON))

    assert response.status_code == 409
    assert "this time was just taken" in response.text
    assert "Other times with Maya Okafor" in response.text


def test_a_cancelled_appointment_frees_its_time(
    as_stranger, service, clinician, other_client_record
) -> None:
    factories.make_appointment(
        service=service,
        clinician=clinician,
        client=other_client_record,
        starts_at=TEN_AM_LONDON,
        status=AppointmentStatus.CANCELLED,
    )

    response = as_stranger.post(details_url(service, clinician), booking_data(TEN_AM_LONDON))

    assert response.status_code == 302


# Times Maya never offers (09:00-17:00 London, 45 minutes, starts every 15 minutes), each with
# a free time of the same day that the answer offers instead.
NEVER_OFFERED = [
    pytest.param(
        dt.datetime(2026, 6, 8, 14, 7, tzinfo=dt.UTC), ELEVEN_AM_LONDON, id="15:07 off the grid"
    ),
    pytest.param(
        dt.datetime(2026, 6, 9, 5, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 6, 9, 8, 0, tzinfo=dt.UTC),
        id="06:00 before working hours",
    ),
    pytest.param(
        dt.datetime(2026, 6, 8, 15, 30, tzinfo=dt.UTC), ELEVEN_AM_LONDON, id="16:30 ends after 17"
    ),
]


@pytest.mark.parametrize(("start", "offered"), NEVER_OFFERED)
def test_a_link_to_a_time_never_offered_says_so_and_shows_the_free_times(
    as_stranger, service, clinician, start: dt.datetime, offered: dt.datetime
) -> None:
    response = as_stranger.get(details_url(service, clinician, start))

    assert response.status_code == 400
    assert "That is not a time we offer" in response.text
    assert "start every 15 minutes within their working hours" in response.text
    assert "just taken" not in response.text
    # The free times, as links to book them.
    assert "Other times with Maya Okafor" in response.text
    assert f"start={iso(offered).replace(':', '%3A')}" in response.text


@pytest.mark.parametrize(("start", "offered"), NEVER_OFFERED)
def test_booking_a_time_never_offered_is_refused_with_the_free_times_and_the_form_kept(
    as_stranger, service, clinician, start: dt.datetime, offered: dt.datetime
) -> None:
    response = as_stranger.post(details_url(service, clinician), booking_data(start))

    assert response.status_code == 400
    assert "That is not a time we offer" in response.text
    assert f'<input type="radio" name="start" value="{iso(offered)}"' in response.text
    assert 'value="Carla Nunes"' in response.text
    assert not Appointment.objects.exists()
    assert not User.objects.filter(email="carla@example.org").exists()


def test_a_time_on_the_schedule_but_inside_the_notice_is_gone_not_invalid(
    as_stranger, service, clinician
) -> None:
    # 09:00 London was offered yesterday; with 120 minutes' notice it cannot be booked now.
    start = MONDAY_MORNING + dt.timedelta(minutes=60)

    opened = as_stranger.get(details_url(service, clinician, start))
    posted = as_stranger.post(details_url(service, clinician), booking_data(start))

    assert opened.status_code == posted.status_code == 409
    assert "this time was just taken or is no longer available" in posted.text
    assert not Appointment.objects.exists()


@pytest.mark.parametrize(
    ("start", "message"),
    [
        # Outside what Python's datetime can move by a day: these used to be server errors.
        ("0001-01-01T00:00:00+01:00", "does not name a time we can book"),
        ("0001-01-02T10:00:00Z", "That time has already passed"),
        ("9999-12-31T23:30:00Z", "up to 60 days ahead"),
        ("9999-12-31T23:59:59-12:00", "does not name a time we can book"),
        ("2026-06-08T06:45:00Z", "That time has already passed"),
        ("2026-09-08T09:00:00Z", "up to 60 days ahead"),
    ],
)
def test_a_time_outside_the_booking_dates_is_refused_with_a_reason(
    as_stranger, service, clinician, start: str, message: str
) -> None:
    opened = as_stranger.get(
        reverse("sessions:book_details", args=[service.uuid]),
        {"clinician": str(clinician.uuid), "start": start},
    )
    submitted = as_stranger.post(
        details_url(service, clinician), booking_data(TEN_AM_LONDON, start=start)
    )

    assert opened.status_code == 400
    assert message in opened.text
    assert submitted.status_code == 400
    assert message.replace("does not name a time we can book", "Pick a time") in submitted.text
    assert "Sprained left ankle in 2021" in submitted.text
    assert not Appointment.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"date_of_birth": "2031-01-01"}, "cannot be in the future"),
        ({"date_of_birth": "1987-02-30"}, "Enter a valid date"),
        ({"date_of_birth": "1850-01-01"}, "more than 120 years ago"),
        ({"full_name": "x" * 151}, "at most 150 characters"),
        ({"previous_injuries": "x" * 2001}, "at most 2000 characters"),
        ({"pain_now": "11"}, "less than or equal to 10"),
        ({"pain_now": "-1"}, "greater than or equal to 0"),
        ({"time_zone": "Mars/Olympus_Mons"}, "Select a valid choice"),
        ({"email": "not-an-email"}, "Enter a valid email address"),
        ({"phone": "call me maybe"}, "Enter a phone number"),
        ({"aggravating_activities": ["teleporting"]}, "Select a valid choice"),
        ({"consent_telehealth": None}, "Please accept the telehealth consent"),
        ({"start": "next tuesday"}, "Pick a time from the list"),
        ({"start": "2026-06-08T09:00:00"}, "Pick a time from the list"),
    ],
)
def test_bad_answers_get_a_clear_message_and_keep_the_rest(
    as_stranger, service, clinician, overrides: dict, message: str
) -> None:
    response = as_stranger.post(
        details_url(service, clinician), booking_data(TEN_AM_LONDON, **overrides)
    )

    assert response.status_code == 400
    assert message in response.text
    assert "Sprained left ankle in 2021" in response.text or "previous_injuries" in overrides
    assert not Appointment.objects.exists()
    assert not User.objects.filter(email="carla@example.org").exists()


def test_the_intake_preselects_no_answer_the_client_must_give(
    as_stranger, service, clinician
) -> None:
    form = as_stranger.get(details_url(service, clinician, TEN_AM_LONDON)).text

    for name in ("dominant_leg", "knee_pain_side", "pain_duration"):
        # Every answer shown to choose from, none chosen.
        assert len(re.findall(rf'<input type="radio" name="{name}"', form)) >= 3, name
        assert checked_answer(form, name) == [], name
    assert "<select" not in form.split('name="dominant_leg"')[0].split('name="time_zone"')[1]


def checked_answer(form: str, name: str) -> list[str]:
    tags = re.findall(rf'<input type="radio" name="{name}"[^>]*>', form)
    return [re.findall(r'value="([^"]*)"', tag)[0] for tag in tags if " checked" in tag]


@pytest.mark.parametrize(("on_record", "checked"), [("left", ["left"]), ("unsure", [])])
def test_a_signed_in_client_finds_the_leg_they_gave_before_but_not_the_records_default(
    as_client, client_record, service, clinician, on_record: str, checked: list[str]
) -> None:
    # "Not sure" is also what a record holds when nobody asked (the model's default).
    client_record.dominant_leg = on_record
    client_record.save(update_fields=["dominant_leg"])

    form = as_client.get(details_url(service, clinician, TEN_AM_LONDON)).text

    assert checked_answer(form, "dominant_leg") == checked


@pytest.mark.parametrize(
    ("skipped", "message"),
    [
        ("dominant_leg", "Choose which leg you kick a ball with."),
        ("knee_pain_side", "Choose which knee hurts."),
        ("pain_duration", "Choose how long it has hurt."),
    ],
)
def test_an_intake_question_left_unanswered_is_asked_again_with_the_rest_kept(
    as_stranger, service, clinician, skipped: str, message: str
) -> None:
    response = as_stranger.post(
        details_url(service, clinician), booking_data(TEN_AM_LONDON, **{skipped: None})
    )

    assert response.status_code == 400
    # The message sits in the question's own group, which points screen readers to it.
    group = response.text.split(f'aria-describedby="id_{skipped}_error"')[1].split("</fieldset>")[0]
    assert f'<p class="error" id="id_{skipped}_error">{message}</p>' in group
    assert "Sprained left ankle in 2021" in response.text
    assert not Appointment.objects.exists()


@pytest.mark.parametrize(
    "query",
    ["start=garbage", "start=2026-13-45T10:00:00Z", "start=2026-06-08T10:00:00", ""],
)
def test_a_details_link_without_a_valid_time_is_refused(
    as_stranger, service, clinician, query: str
) -> None:
    url = (
        reverse("sessions:book_details", args=[service.uuid])
        + f"?clinician={clinician.uuid}&{query}"
    )

    response = as_stranger.get(url)

    assert response.status_code == 400
    assert "does not name a time we can book" in response.text


@pytest.mark.parametrize("week", ["2026-02-30", "yesterday", "2026-6-1x"])
def test_an_impossible_week_is_reported_and_this_week_shown(
    as_stranger, service, clinician, week: str
) -> None:
    response = as_stranger.get(
        reverse("sessions:book_slots", args=[service.uuid, clinician.uuid]), {"week": week}
    )

    assert response.status_code == 400
    assert "is not a date. Showing this week instead." in response.text
    assert ">10:00<" in response.text


def test_unknown_services_and_clinicians_are_not_found(as_stranger, service, clinician) -> None:
    other_service = factories.make_service(name="Inactive", is_active=False)
    urls = [
        reverse("sessions:book_clinicians", args=["8d5e9ad4-7ad7-4b62-9d0e-3c3b5d6bb0a1"]),
        reverse("sessions:book_clinicians", args=[other_service.uuid]),
        reverse("sessions:book_slots", args=[service.uuid, "not-a-uuid"]),
        reverse("sessions:book_slots", args=[service.uuid, "8d5e9ad4-7ad7-4b62-9d0e-3c3b5d6bb0a1"]),
        reverse("sessions:book_details", args=[service.uuid])
        + "?clinician=nobody&start="
        + iso(TEN_AM_LONDON),
        "/book/not-a-uuid/",
    ]
    for url in urls:
        assert as_stranger.get(url).status_code == 404, url


def test_a_clinician_not_offering_the_service_cannot_be_booked_for_it(as_stranger, service) -> None:
    outsider = factories.make_clinician()

    response = as_stranger.post(details_url(service, outsider), booking_data(TEN_AM_LONDON))

    assert response.status_code == 404


def test_an_oversized_request_body_is_refused_without_a_server_error(
    as_stranger, service, clinician
) -> None:
    response = as_stranger.post(
        details_url(service, clinician),
        booking_data(TEN_AM_LONDON, previous_injuries="x" * 3_000_000),
    )

    assert response.status_code == 400
    assert not Appointment.objects.exists()


def test_the_confirmation_page_is_only_for_the_browser_that_booked(
    as_stranger, as_client, service, clinician
) -> None:
    response = as_stranger.post(details_url(service, clinician), booking_data(TEN_AM_LONDON))

    confirmation = as_stranger.get(response["Location"])
    assert confirmation.status_code == 200
    assert as_client.get(response["Location"]).status_code == 404
    # The devices can be checked from there at once, before signing in.
    check = reverse("sessions:device_check")
    assert f'<a href="{check}">Check your camera, microphone and speakers</a>' in confirmation.text


def test_the_slot_page_runs_the_same_queries_however_many_appointments_exist(
    as_stranger, service, clinician, other_client_record
) -> None:
    url = reverse("sessions:book_slots", args=[service.uuid, clinician.uuid])

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert as_stranger.get(url, {"week": "2026-06-08"}).status_code == 200
        return len(captured)

    before = queries()
    start = dt.datetime(2026, 6, 8, 9, 0, tzinfo=dt.UTC)
    for day in range(7):
        for hour in range(0, 8, 2):
            factories.make_appointment(
                service=service,
                clinician=clinician,
                client=other_client_record,
                starts_at=start + dt.timedelta(days=day, hours=hour),
            )

    assert Appointment.objects.count() == 28
    assert queries() == before


def test_a_zone_picked_on_the_page_wins_over_the_signed_in_clients_setting(
    as_client, service, clinician
) -> None:
    url = reverse("sessions:book_slots", args=[service.uuid, clinician.uuid])

    own = as_client.get(url)
    picked = as_client.get(url, {"tz": "Asia/Tokyo"})

    assert "Times in Europe/London" in own.text
    assert "Times in Asia/Tokyo" in picked.text
    assert ">18:00<" in picked.text  # 10:00 in London is 18:00 in Tokyo
