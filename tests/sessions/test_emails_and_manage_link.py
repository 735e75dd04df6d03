"""Confirmation emails with calendar invites, and the signed link to cancel or reschedule."""

import datetime as dt
import re
from email.message import EmailMessage

import icalendar
import pytest
import time_machine
from django.urls import reverse

from clinic.models import AuditEvent
from sessions.booking.links import manage_token, manage_url
from sessions.models import Appointment, AppointmentStatus
from tests.conftest import MONDAY_MORNING
from tests.sessions.booking_helpers import booking_data, details_url, iso

pytestmark = pytest.mark.django_db

TUESDAY_TEN_LONDON = dt.datetime(2026, 6, 9, 9, 0, tzinfo=dt.UTC)
WEDNESDAY_TWO_LONDON = dt.datetime(2026, 6, 10, 13, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def monday_morning():
    with time_machine.travel(MONDAY_MORNING, tick=False):
        yield


@pytest.fixture
def booked(
    as_stranger, service, clinician, django_capture_on_commit_callbacks, inbox
) -> Appointment:
    with django_capture_on_commit_callbacks(execute=True):
        response = as_stranger.post(
            details_url(service, clinician), booking_data(TUESDAY_TEN_LONDON)
        )
    assert response.status_code == 302
    return Appointment.objects.get()


def calendar_of(message: EmailMessage) -> tuple[str, icalendar.Calendar]:
    """The method of the text/calendar part, and the calendar, checked against the .ics file."""
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    [attachment] = [p for p in message.iter_attachments() if p.get_filename() == "invite.ics"]
    assert attachment.get_content_type() == "application/ics"
    calendar = icalendar.Calendar.from_ical(part.get_content())
    assert icalendar.Calendar.from_ical(attachment.get_content()).to_ical() == calendar.to_ical()
    return part.get_param("method"), calendar


def event_of(calendar: icalendar.Calendar) -> icalendar.Event:
    [event] = calendar.walk("VEVENT")
    return event


def links_in(text: str) -> list[str]:
    return re.findall(r"https?://[^\s\"<>]+", text)


def path_of(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def test_booking_emails_the_client_an_invitation_with_join_and_manage_links(booked, inbox) -> None:
    [message] = inbox.to("carla@example.org")

    assert message["Subject"] == "Booked: Virtual assessment on Tue 9 Jun, 10:00"
    assert message.get_body(("plain",)) is not None
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    # Times on the client's own clock (Lisbon, UTC+1 in June).
    assert "Tuesday 9 June 2026, 10:00 (Europe/Lisbon)" in text
    assert "Tuesday 9 June 2026, 10:00 (Europe/Lisbon)" in html
    join = f"http://localhost:8000/appointments/{booked.uuid}/join/"
    assert join in text
    assert join in html
    assert manage_url(booked) in text
    assert manage_url(booked) in html

    method, calendar = calendar_of(message)
    event = event_of(calendar)
    assert method == "REQUEST"
    assert calendar["METHOD"] == "REQUEST"
    assert str(event["UID"]) == f"{booked.uuid}@localhost"
    assert event["SEQUENCE"] == 0
    assert event["STATUS"] == "CONFIRMED"
    assert event.decoded("DTSTART") == TUESDAY_TEN_LONDON
    assert event.decoded("DTEND") == TUESDAY_TEN_LONDON + dt.timedelta(minutes=45)
    assert join in str(event["DESCRIPTION"])


def test_the_clinician_is_notified_with_a_link_to_the_record(booked, inbox, clinician) -> None:
    [message] = inbox.to(clinician.user.email)

    assert message["Subject"] == "New booking: Carla Nunes, Tue 9 Jun, 10:00"
    text = message.get_body(("plain",)).get_content()
    assert f"/clinic/clients/{booked.client.uuid}/" in text
    assert "manage" not in text  # the client's manage link is not for the clinician
    method, calendar = calendar_of(message)
    assert method == "REQUEST"
    assert str(event_of(calendar)["UID"]) == f"{booked.uuid}@localhost"


def test_email_html_works_without_images_or_stylesheets(booked, inbox) -> None:
    [message] = inbox.to("carla@example.org")
    html = message.get_body(("html",)).get_content()

    assert "<img" not in html
    assert "<link" not in html
    assert 'name="viewport"' in html
    assert "max-width:600px" in html


def test_every_link_in_the_email_works(booked, inbox, as_stranger) -> None:
    [message] = inbox.to("carla@example.org")
    text = message.get_body(("plain",)).get_content()

    for url in links_in(text):
        response = as_stranger.get(path_of(url))
        # The join page needs the client to sign in first; every other link opens directly.
        assert response.status_code in (200, 302), url
        if response.status_code == 302:
            assert response["Location"].startswith("/login/?next=")


def test_the_email_offers_a_device_check_that_opens_without_signing_in(
    booked, inbox, as_stranger
) -> None:
    [message] = inbox.to("carla@example.org")
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()

    [link] = [url for url in links_in(text) if "check" in url]
    assert link == "http://localhost:8000/check-devices/"
    assert f'href="{link}"' in html
    assert "Check your camera, microphone and speakers" in html
    page = as_stranger.get(path_of(link))
    assert page.status_code == 200
    assert "<h1>Check your camera, microphone and speakers</h1>" in page.text
    assert 'src="/static/js/device_check.js" type="module"' in page.text
    # A check only: no room, no socket, nothing of the appointment.
    assert "/ws/" not in page.text
    assert str(booked.uuid) not in page.text


def test_rescheduling_by_link_moves_the_appointment_and_updates_calendars(
    booked, inbox, as_stranger, django_capture_on_commit_callbacks
) -> None:
    inbox.clear()
    token = manage_token(booked)
    page = as_stranger.get(reverse("sessions:manage_reschedule", args=[token]))
    assert page.status_code == 200
    assert f'value="{iso(WEDNESDAY_TWO_LONDON)}"' in page.text

    with django_capture_on_commit_callbacks(execute=True):
        response = as_stranger.post(
            reverse("sessions:manage_reschedule", args=[token]),
            {"start": iso(WEDNESDAY_TWO_LONDON), "confirm": "yes"},
        )

    assert response.status_code == 302
    booked.refresh_from_db()
    assert booked.starts_at == WEDNESDAY_TWO_LONDON
    assert booked.sequence == 1
    assert as_stranger.get(response["Location"]).text.count("has been moved") == 1
    [message] = inbox.to("carla@example.org")
    assert message["Subject"].startswith("New time: Virtual assessment on Wed 10 Jun, 14:00")
    method, calendar = calendar_of(message)
    event = event_of(calendar)
    assert method == "REQUEST"
    assert str(event["UID"]) == f"{booked.uuid}@localhost"
    assert event["SEQUENCE"] == 1
    assert event.decoded("DTSTART") == WEDNESDAY_TWO_LONDON
    assert inbox.to(booked.clinician.user.email)
    assert AuditEvent.objects.filter(object_uuid=booked.uuid, action="updated").exists()


def test_cancelling_by_link_frees_the_time_and_sends_a_cancellation(
    booked, inbox, as_stranger, django_capture_on_commit_callbacks
) -> None:
    inbox.clear()
    token = manage_token(booked)
    assert as_stranger.get(reverse("sessions:manage_cancel", args=[token])).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        response = as_stranger.post(
            reverse("sessions:manage_cancel", args=[token]), {"reason": "Feeling better"}
        )

    assert response.status_code == 302
    booked.refresh_from_db()
    assert booked.status == AppointmentStatus.CANCELLED
    assert booked.sequence == 1
    assert booked.cancellation_reason == "Feeling better"
    assert booked.cancelled_by == booked.client.user
    [message] = inbox.to("carla@example.org")
    assert message["Subject"].startswith("Cancelled:")
    method, calendar = calendar_of(message)
    event = event_of(calendar)
    assert method == "CANCEL"
    assert calendar["METHOD"] == "CANCEL"
    assert event["STATUS"] == "CANCELLED"
    assert event["SEQUENCE"] == 1
    assert str(event["UID"]) == f"{booked.uuid}@localhost"
    [clinician_message] = inbox.to(booked.clinician.user.email)
    assert "Feeling better" in clinician_message.get_body(("plain",)).get_content()

    # The time can be booked again, and a second cancel is refused politely.
    page = as_stranger.get(response["Location"])
    assert "This appointment is cancelled" in page.text
    again = as_stranger.post(reverse("sessions:manage_cancel", args=[token]), {}, follow=True)
    assert "cancelled already" in again.text
    assert Appointment.objects.get().sequence == 1


def test_no_changes_online_inside_the_change_window(booked, as_stranger) -> None:
    token = manage_token(booked)
    with time_machine.travel(TUESDAY_TEN_LONDON - dt.timedelta(hours=23), tick=False):
        page = as_stranger.get(reverse("sessions:manage", args=[token]))
        assert "can no longer be changed online" in page.text
        cancel = as_stranger.post(reverse("sessions:manage_cancel", args=[token]), {}, follow=True)
        reschedule = as_stranger.post(
            reverse("sessions:manage_reschedule", args=[token]),
            {"start": iso(WEDNESDAY_TWO_LONDON), "confirm": "yes"},
            follow=True,
        )

    assert "starts too soon to change online" in cancel.text
    assert "can no longer be changed online" in reschedule.text or "too soon" in reschedule.text
    booked.refresh_from_db()
    assert booked.status == AppointmentStatus.CONFIRMED
    assert booked.starts_at == TUESDAY_TEN_LONDON
    assert booked.sequence == 0


def test_rescheduling_to_a_taken_time_keeps_the_old_one(
    booked, as_stranger, service, clinician, other_client_record
) -> None:
    from tests import factories

    factories.make_appointment(
        service=service,
        clinician=clinician,
        client=other_client_record,
        starts_at=WEDNESDAY_TWO_LONDON,
    )

    response = as_stranger.post(
        reverse("sessions:manage_reschedule", args=[manage_token(booked)]),
        {"start": iso(WEDNESDAY_TWO_LONDON)},
    )

    assert response.status_code == 409
    assert "just taken" in response.text
    booked.refresh_from_db()
    assert booked.starts_at == TUESDAY_TEN_LONDON
    assert booked.sequence == 0


@pytest.mark.parametrize("start", ["", "soon", "2026-06-10T13:00:00"])
def test_rescheduling_without_a_valid_time_is_refused(booked, as_stranger, start: str) -> None:
    response = as_stranger.post(
        reverse("sessions:manage_reschedule", args=[manage_token(booked)]), {"start": start}
    )

    assert response.status_code == 400
    assert "Pick one of the times below" in response.text
    booked.refresh_from_db()
    assert booked.starts_at == TUESDAY_TEN_LONDON


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ("0001-01-01T00:00:00+01:00", "Pick one of the times below"),
        ("0001-01-02T10:00:00Z", "That time has already passed"),
        ("9999-12-31T23:30:00Z", "up to 60 days ahead"),
    ],
)
def test_rescheduling_to_a_time_outside_the_booking_dates_is_refused(
    booked, as_stranger, start: str, message: str
) -> None:
    response = as_stranger.post(
        reverse("sessions:manage_reschedule", args=[manage_token(booked)]), {"start": start}
    )

    assert response.status_code == 400
    assert message in response.text
    booked.refresh_from_db()
    assert booked.starts_at == TUESDAY_TEN_LONDON
    assert booked.sequence == 0


def test_a_tampered_manage_link_is_refused(booked, as_stranger) -> None:
    token = manage_token(booked)
    tampered = token[:-3] + ("abc" if not token.endswith("abc") else "xyz")
    other_uuid = token.replace(str(booked.uuid)[:8], "00000000")

    for bad in (tampered, other_uuid, "nonsense", str(booked.uuid)):
        for name in ("sessions:manage", "sessions:manage_cancel", "sessions:manage_reschedule"):
            response = as_stranger.get(reverse(name, args=[bad]))
            assert response.status_code == 400, (name, bad)
            assert "This link is not valid" in response.text
        assert as_stranger.post(reverse("sessions:manage_cancel", args=[bad])).status_code == 400

    booked.refresh_from_db()
    assert booked.status == AppointmentStatus.CONFIRMED


def test_a_manage_link_expires_when_the_appointment_is_over(booked, as_stranger) -> None:
    with time_machine.travel(TUESDAY_TEN_LONDON + dt.timedelta(hours=1), tick=False):
        response = as_stranger.get(reverse("sessions:manage", args=[manage_token(booked)]))

    assert response.status_code == 410
    assert "already taken place" in response.text


# --- A new time is confirmed first, and its email says what it replaces ----------------------


def test_choosing_a_new_time_shows_both_times_and_moves_nothing_until_confirmed(
    booked, inbox, as_stranger
) -> None:
    inbox.clear()
    url = reverse("sessions:manage_reschedule", args=[manage_token(booked)])

    week = as_stranger.get(url)
    # The times are buttons of a form that only asks (GET), not of one that moves (POST).
    assert f'<form method="get" id="reschedule-form" action="{url}">' in week.text
    assert 'form="reschedule-form" name="start"' in week.text
    confirm = as_stranger.get(url, {"start": iso(WEDNESDAY_TWO_LONDON)})
    # A POST without the confirmation (a page from before this step existed) asks too.
    stale = as_stranger.post(url, {"start": iso(WEDNESDAY_TWO_LONDON)})

    for page in (confirm, stale):
        assert page.status_code == 200
        assert "Move your appointment?" in page.text
        # On Carla's clock (Lisbon: the same as London in June).
        assert "<del>Tuesday 9 June 2026, 10:00</del>" in page.text
        assert "<strong>Wednesday 10 June 2026, 14:00</strong>" in page.text
        assert (
            f'<input type="hidden" name="start" value="{iso(WEDNESDAY_TWO_LONDON)}">' in page.text
        )
        assert '<input type="hidden" name="confirm" value="yes">' in page.text
        assert "Yes, move it" in page.text
    booked.refresh_from_db()
    assert booked.starts_at == TUESDAY_TEN_LONDON
    assert booked.sequence == 0
    assert not inbox.messages


@pytest.mark.parametrize(
    ("start", "status", "message"),
    [
        (dt.datetime(2026, 6, 10, 13, 7, tzinfo=dt.UTC), 400, "That is not a time we offer"),
        (TUESDAY_TEN_LONDON, 400, "This is already your appointment"),
    ],
)
def test_a_new_time_that_cannot_be_had_is_refused_before_the_confirmation(
    booked, as_stranger, start: dt.datetime, status: int, message: str
) -> None:
    url = reverse("sessions:manage_reschedule", args=[manage_token(booked)])

    response = as_stranger.get(url, {"start": iso(start)})

    assert response.status_code == status
    assert message in response.text
    assert "Move your appointment?" not in response.text
    assert f'value="{iso(WEDNESDAY_TWO_LONDON)}"' in response.text  # the week to pick from


def test_the_new_time_emails_say_the_old_and_the_new_time_on_each_readers_clock(
    as_stranger, service, clinician, inbox, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        as_stranger.post(
            details_url(service, clinician),
            booking_data(TUESDAY_TEN_LONDON, time_zone="America/New_York"),
        )
    appointment = Appointment.objects.get()
    inbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = as_stranger.post(
            reverse("sessions:manage_reschedule", args=[manage_token(appointment)]),
            {"start": iso(WEDNESDAY_TWO_LONDON), "confirm": "yes"},
        )

    assert response.status_code == 302
    readers = [
        ("carla@example.org", "America/New_York", "Tue 9 Jun, 05:00", "Wed 10 Jun, 09:00"),
        (clinician.user.email, "Europe/London", "Tue 9 Jun, 10:00", "Wed 10 Jun, 14:00"),
    ]
    long = {
        "Tue 9 Jun, 05:00": "Tuesday 9 June 2026, 05:00",
        "Wed 10 Jun, 09:00": "Wednesday 10 June 2026, 09:00",
        "Tue 9 Jun, 10:00": "Tuesday 9 June 2026, 10:00",
        "Wed 10 Jun, 14:00": "Wednesday 10 June 2026, 14:00",
    }
    for address, zone, was, now in readers:
        [message] = inbox.to(address)
        assert message["Subject"].endswith(f"{now} (was {was})"), message["Subject"]
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert f"Was: {long[was]} ({zone})" in text
        assert f"Now: {long[now]} ({zone})" in text
        assert f"{long[was]} ({zone})</td>" in html
        assert f"{long[now]} ({zone})</td>" in html
        method, calendar = calendar_of(message)
        event = event_of(calendar)
        assert (method, event["SEQUENCE"]) == ("REQUEST", 1)
        assert event.decoded("DTSTART") == WEDNESDAY_TWO_LONDON
        assert str(event["DESCRIPTION"]).startswith(
            f"Moved from {long[was]} ({zone}) to {long[now]} ({zone}).\n"
        )
