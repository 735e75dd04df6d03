"""A client books, reschedules and cancels online, in a real browser, with real emails.

The live server queues the emails; a Celery worker in its own process sends them to the
loopback SMTP server, where the test reads them back. Browser steps happen inside
``open_browser``; the ORM is only used before and after it (see tests/e2e/conftest.py).
"""

import datetime as dt
import re
import zoneinfo
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

import icalendar
import pytest
from playwright.sync_api import BrowserContext, Locator, Page, Response, expect

from clinic.models import Client, Consent, ConsentKind
from sessions.models import Appointment, AppointmentStatus
from tests import factories
from tests.celery_worker import CeleryWorker
from tests.e2e.devices import check_devices
from tests.smtp import Inbox

SERVICE = "Virtual knee assessment"
CLINICIAN = "Maya Okafor"
CLINICIAN_EMAIL = "maya@clinic.example"
ALL_DAY = (dt.time(0), dt.time(23, 59))
LONDON = zoneinfo.ZoneInfo("Europe/London")  # Maya's zone (the factories' default)
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
CHICAGO = zoneinfo.ZoneInfo("America/Chicago")

# The ``open_browser`` fixture (tests/e2e/conftest.py).
OpenBrowser = Callable[..., AbstractContextManager[BrowserContext]]


@pytest.fixture
def bookable(consent_documents: None) -> None:
    """A service two clinicians offer, both working around the clock every day."""
    maya = factories.make_clinician(email=CLINICIAN_EMAIL, full_name=CLINICIAN, hours=ALL_DAY)
    sam = factories.make_clinician(
        email="sam@clinic.example",
        full_name="Sam Rivera",
        time_zone="America/New_York",
        hours=ALL_DAY,
    )
    factories.make_service(maya, sam, name=SERVICE)


# --- Browser steps ---------------------------------------------------------------------------


def first_page(context: BrowserContext) -> Page:
    return context.pages[0] if context.pages else context.new_page()


def long_date(moment: dt.datetime, zone: zoneinfo.ZoneInfo) -> str:
    """As the pages and emails show a time: "Tuesday 24 November 2026, 10:00"."""
    local = moment.astimezone(zone)
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M}"


def slot_start(value: str) -> dt.datetime:
    start = dt.datetime.fromisoformat(value)
    assert start.tzinfo is not None, value
    return start


def choose_service_and_clinician(page: Page) -> None:
    page.get_by_role("link", name=SERVICE).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"{SERVICE}: who would you like to see?"
    )
    page.get_by_role("link", name=CLINICIAN).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Pick a time")


def check_shown_on_clock(
    page: Page, *, day: int, clock: str, start: dt.datetime, zone: zoneinfo.ZoneInfo
) -> None:
    """The time offered as ``clock`` on the ``day``-th day shown really is then in ``zone``."""
    local = start.astimezone(zone)
    assert local.strftime("%H:%M") == clock, (start, zone)
    heading = page.locator("section.day").nth(day).get_by_role("heading")
    expect(heading).to_contain_text(f"{local:%A}")
    expect(heading).to_contain_text(f"{local.day} {local:%B}")


def pick_time(page: Page, *, day: int, clock: str, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """Click a time in the booking week (a link to the details step); returns its start."""
    expect(page.locator(".time-zone-note")).to_have_text(f"Times in {zone.key}")
    link = page.locator("section.day").nth(day).get_by_role("link", name=clock, exact=True)
    href = link.get_attribute("href")
    assert href is not None
    start = slot_start(parse_qs(urlsplit(href).query)["start"][0])
    check_shown_on_clock(page, day=day, clock=clock, start=start, zone=zone)
    link.click()
    return start


def fill_details(page: Page, *, full_name: str, email: str, zone: zoneinfo.ZoneInfo) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text("Your details")
    page.get_by_label("Full name").fill(full_name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Phone", exact=True).fill("+1 212 555 0143")
    page.get_by_label("Date of birth").fill("1988-04-02")
    # Preselected from the zone the slot page was shown in.
    expect(page.get_by_label("Time zone")).to_have_value(zone.key)
    page.get_by_label("Emergency contact name").fill("Rui Silva")
    page.get_by_label("Emergency contact phone").fill("+1 212 555 0199")
    page.get_by_label("How much does it hurt today?").fill("6")
    page.get_by_label("Stairs").check()
    page.get_by_label("I have read and accept the telehealth consent").check()
    answer_the_questions(page)


def question(page: Page, legend: str) -> Locator:
    return page.get_by_role("group", name=legend)


def answer_the_questions(page: Page) -> None:
    """The intake's questions, which have no answer until the client chooses one."""
    question(page, "Which leg do you kick a ball with?").get_by_label("Right").check()
    question(page, "Which knee hurts?").get_by_label("Left knee").check()
    question(page, "How long has it hurt?").get_by_label("6 weeks to 3 months").check()


def book(page: Page, *, start: dt.datetime, zone: zoneinfo.ZoneInfo, email: str) -> str:
    """Submit the details form; returns the booked appointment's UUID from the confirmation."""
    page.get_by_role("button", name="Book this time").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You are booked")
    match = re.search(r"/book/done/([0-9a-f-]{36})/$", page.url)
    assert match, page.url
    details = page.locator("dl.details")
    expect(details).to_contain_text(CLINICIAN)
    expect(details).to_contain_text(f"{long_date(start, zone)} ({zone.key})")
    expect(page.locator("main")).to_contain_text(f"We have sent a confirmation to {email}")
    return match.group(1)


# --- Emails ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Invitation:
    subject: str
    text: str
    html: str
    method: str
    uid: str
    sequence: int
    starts_at: dt.datetime


def read_invitation(message: EmailMessage) -> Invitation:
    """The parts of an appointment email, checking its MIME structure on the way."""
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    assert text_part is not None
    assert html_part is not None
    inline = [part for part in message.walk() if part.get_content_type() == "text/calendar"]
    assert len(inline) == 1, [part.get_content_type() for part in message.walk()]
    assert inline[0].get_content_disposition() is None  # an alternative, not an attachment
    attachments = list(message.iter_attachments())
    assert [part.get_filename() for part in attachments] == ["invite.ics"]

    calendar = icalendar.Calendar.from_ical(inline[0].get_content())
    attached = icalendar.Calendar.from_ical(attachments[0].get_content())
    assert attached.to_ical() == calendar.to_ical()
    method = str(calendar["METHOD"])
    # Calendar clients go by the Content-Type parameter; it must agree with the file.
    assert inline[0].get_param("method") == method
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    event = events[0]
    return Invitation(
        subject=str(message["Subject"]),
        text=text_part.get_content(),
        html=html_part.get_content(),
        method=method,
        uid=str(event["UID"]),
        sequence=int(event["SEQUENCE"]),
        starts_at=event.decoded("DTSTART"),
    )


def only(messages: list[EmailMessage], subject_prefix: str) -> EmailMessage:
    found = [m for m in messages if str(m["Subject"]).startswith(subject_prefix)]
    assert len(found) == 1, [str(m["Subject"]) for m in messages]
    return found[0]


def manage_link(invitation: Invitation, site_url: str) -> str:
    match = re.search(rf"{re.escape(site_url)}/appointments/manage/[^\s/\"<>]+/", invitation.text)
    assert match, invitation.text
    assert f'href="{match.group(0)}"' in invitation.html
    return match.group(0)


# --- Tests -----------------------------------------------------------------------------------


@pytest.mark.e2e
def test_book_reschedule_and_cancel_online(
    bookable: None,
    site_url: str,
    celery_worker: CeleryWorker,
    inbox: Inbox,
    open_browser: OpenBrowser,
) -> None:
    email = "ana.silva@example.org"
    host = urlsplit(site_url).hostname

    with open_browser(timezone_id="America/New_York") as context:
        page = first_page(context)
        book_page_loads: list[str] = []

        def count_book_page_loads(response: Response) -> None:
            if urlsplit(response.url).path == "/book/":
                book_page_loads.append(response.url)

        page.on("response", count_book_page_loads)
        page.goto(f"{site_url}/book/")
        # timezone.js reports the browser's zone in the tz cookie and reloads the page, which
        # then no longer carries the default zone it was first shown in.
        expect(page.locator("body[data-time-zone-default]")).to_have_count(0)
        expect(page.get_by_role("heading", level=1)).to_have_text("Book a consultation")
        assert len(book_page_loads) == 2, book_page_loads
        cookies = {cookie["name"]: cookie["value"] for cookie in context.cookies()}
        assert cookies.get("tz") == "America/New_York"

        choose_service_and_clinician(page)
        # Two days ahead, so that the booking can still be changed online (24 hours' notice).
        start = pick_time(page, day=2, clock="10:00", zone=NEW_YORK)
        expect(page.locator(".summary")).to_contain_text(
            f"{SERVICE} with {CLINICIAN} on {long_date(start, NEW_YORK)} (America/New_York)"
        )
        fill_details(page, full_name="Ana Silva", email=email, zone=NEW_YORK)
        appointment_uuid = book(page, start=start, zone=NEW_YORK, email=email)
        uid = f"{appointment_uuid}@{host}"
        join_link = f"{site_url}/appointments/{appointment_uuid}/join/"

        # The confirmation, with the invitation, sent by the worker.
        booked = read_invitation(only(inbox.wait_for(1, to=email), "Booked:"))
        assert (booked.method, booked.sequence, booked.uid) == ("REQUEST", 0, uid)
        assert booked.starts_at == start
        assert f"{long_date(start, NEW_YORK)} (America/New_York)" in booked.text
        assert join_link in booked.text
        assert f'href="{join_link}"' in booked.html
        manage = manage_link(booked, site_url)
        # The email's device check opens without signing in, and joins no room.
        [check] = [url for url in re.findall(r"https?://[^\s\"<>]+", booked.text) if "check" in url]
        assert check == f"{site_url}/check-devices/"
        assert f'href="{check}"' in booked.html
        devices = context.new_page()
        devices.goto(check)
        check_devices(devices)
        devices.close()
        told = read_invitation(only(inbox.wait_for(1, to=CLINICIAN_EMAIL), "New booking:"))
        assert (told.method, told.sequence, told.uid) == ("REQUEST", 0, uid)
        assert "Ana Silva" in told.text
        assert f"{long_date(start, LONDON)} (Europe/London)" in told.text  # on Maya's clock
        assert join_link in told.text
        assert "/appointments/manage/" not in told.text + told.html  # the client's link only

        # Reschedule through the link in the email.
        page.goto(manage)
        expect(page.get_by_role("heading", level=1)).to_have_text("Your appointment")
        expect(page.locator("dl.details")).to_contain_text(long_date(start, NEW_YORK))
        page.get_by_role("link", name="Reschedule").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Pick a new time")
        expect(page.locator(".time-zone-note")).to_have_text("Times in America/New_York")
        button = page.locator("section.day").nth(3).get_by_role("button", name="11:00", exact=True)
        value = button.get_attribute("value")
        assert value is not None
        new_start = slot_start(value)
        check_shown_on_clock(page, day=3, clock="11:00", start=new_start, zone=NEW_YORK)
        button.click()
        # Nothing moves on that click: the old and the new time, side by side, to confirm.
        expect(page.get_by_role("heading", level=1)).to_have_text("Move your appointment?")
        expect(page.locator("dl.details del")).to_have_text(long_date(start, NEW_YORK))
        expect(page.locator("dl.details strong")).to_have_text(long_date(new_start, NEW_YORK))
        page.get_by_role("button", name="Yes, move it").click()
        expect(page.get_by_role("status")).to_contain_text("Your appointment has been moved")
        expect(page.locator("dl.details")).to_contain_text(long_date(new_start, NEW_YORK))

        moved = read_invitation(only(inbox.wait_for(2, to=email), "New time:"))
        assert (moved.method, moved.sequence, moved.uid) == ("REQUEST", 1, uid)
        assert moved.starts_at == new_start
        assert f"Was: {long_date(start, NEW_YORK)} (America/New_York)" in moved.text
        assert f"Now: {long_date(new_start, NEW_YORK)} (America/New_York)" in moved.text
        assert manage_link(moved, site_url) == manage
        told = read_invitation(only(inbox.wait_for(2, to=CLINICIAN_EMAIL), "Moved:"))
        assert (told.method, told.sequence, told.starts_at) == ("REQUEST", 1, new_start)

        # Cancel through the same link.
        page.goto(manage)
        page.get_by_role("link", name="Cancel appointment").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Cancel this appointment?")
        page.get_by_label("Reason (optional)").fill("My knee feels better.")
        page.get_by_role("button", name="Yes, cancel it").click()
        expect(page.get_by_role("status")).to_contain_text("Your appointment is cancelled")
        expect(page.locator("main")).to_contain_text("This appointment is cancelled.")
        expect(page.locator("dl.details")).to_contain_text("Cancelled")
        expect(page.get_by_role("link", name="Reschedule")).to_have_count(0)

        cancelled = read_invitation(only(inbox.wait_for(3, to=email), "Cancelled:"))
        assert (cancelled.method, cancelled.sequence, cancelled.uid) == ("CANCEL", 2, uid)
        assert cancelled.starts_at == new_start
        told = read_invitation(only(inbox.wait_for(3, to=CLINICIAN_EMAIL), "Cancelled:"))
        assert (told.method, told.sequence, told.uid) == ("CANCEL", 2, uid)
        assert "My knee feels better." in told.text

    # Every email went through the worker, none was sent by the test process itself.
    log = celery_worker.wait_for_log("succeeded in", count=6)
    assert log.count("succeeded in") == 6, log
    assert len(inbox.messages) == 6

    appointment = Appointment.objects.select_related("client__user", "intake").get()
    assert str(appointment.uuid) == appointment_uuid
    assert appointment.status == AppointmentStatus.CANCELLED
    assert appointment.sequence == 2
    assert appointment.starts_at == new_start
    assert appointment.cancellation_reason == "My knee feels better."
    client = appointment.client
    assert (client.user.email, client.user.full_name) == (email, "Ana Silva")
    assert client.user.time_zone == "America/New_York"
    assert client.date_of_birth == dt.date(1988, 4, 2)
    assert client.emergency_contact_name == "Rui Silva"
    intake = appointment.intake
    assert intake is not None
    assert (intake.knee_pain_side, intake.pain_duration, intake.pain_now) == (
        "left",
        "6_to_12_weeks",
        6,
    )
    assert intake.aggravating_activities == ["stairs"]
    kinds = Consent.objects.filter(client=client).values_list("document__kind", flat=True)
    assert list(kinds) == [ConsentKind.TELEHEALTH]


QUESTIONS = {
    "Which leg do you kick a ball with?": "Choose which leg you kick a ball with.",
    "Which knee hurts?": "Choose which knee hurts.",
    "How long has it hurt?": "Choose how long it has hurt.",
}


@pytest.mark.e2e
def test_the_intake_makes_the_client_choose_each_answer(
    bookable: None, site_url: str, open_browser: OpenBrowser
) -> None:
    email = "chloe.martin@example.org"
    with open_browser(timezone_id="Europe/London") as context:
        page = first_page(context)
        page.goto(f"{site_url}/book/")
        choose_service_and_clinician(page)
        start = pick_time(page, day=2, clock="10:00", zone=LONDON)
        expect(page.get_by_role("heading", level=1)).to_have_text("Your details")
        # Nothing is answered for the client.
        for legend in QUESTIONS:
            answers = question(page, legend).get_by_role("radio")
            expect(answers).not_to_have_count(0)
            for answer in answers.all():
                expect(answer).not_to_be_checked()
        # Each group's question reads above its answers, where it starts.
        worse = question(page, "What makes it worse?")
        legend = worse.locator("legend").bounding_box()
        first = worse.get_by_label("Stairs").bounding_box()
        assert legend is not None
        assert first is not None
        assert legend["y"] + legend["height"] <= first["y"], (legend, first)
        assert abs(legend["x"] - first["x"]) < 8, (legend, first)

        # Chloe fills in the rest and skips the questions.
        page.get_by_label("Full name").fill("Chloe Martin")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Date of birth").fill("1991-11-23")
        page.get_by_label("Emergency contact name").fill("Paul Martin")
        page.get_by_label("Emergency contact phone").fill("+44 20 7946 0002")
        page.get_by_label("How much does it hurt today?").fill("3")
        page.get_by_label("I have read and accept the telehealth consent").check()
        page.get_by_role("button", name="Book this time").click()

        # GOV.UK's error pattern: the title says so, focus is on a summary of the problems,
        # each a link to its question.
        expect(page).to_have_title(re.compile(r"^Error: Your details"))
        summary = page.locator("[data-error-summary]")
        expect(summary).to_be_focused()
        expect(summary.get_by_role("heading")).to_have_text("There is a problem")
        expect(summary.get_by_role("link")).to_have_text(list(QUESTIONS.values()))
        for legend, message in QUESTIONS.items():
            group = question(page, legend)
            expect(group.locator(".error")).to_have_text(message)
            # Screen readers hear the message with the question, and on each answer.
            described = group.get_attribute("aria-describedby")
            assert described is not None
            expect(page.locator(f"#{described}")).to_have_text(message)
            for answer in group.get_by_role("radio").all():
                expect(answer).to_have_attribute("aria-invalid", "true")
                expect(answer).to_have_attribute("aria-describedby", described)
        # A link in the summary takes the keyboard to the question's first answer.
        summary.get_by_role("link", name=QUESTIONS["Which knee hurts?"]).click()
        expect(question(page, "Which knee hurts?").get_by_role("radio").first).to_be_focused()
        expect(page.get_by_label("Full name")).to_have_value("Chloe Martin")
        expect(page.get_by_label("How much does it hurt today?")).to_have_value("3")

        answer_the_questions(page)
        page.get_by_label("I have read and accept the telehealth consent").check()
        book(page, start=start, zone=LONDON, email=email)

    client = Client.objects.get(user__email=email)
    assert client.dominant_leg == "right"
    intake = client.intakes.get()
    assert (intake.knee_pain_side, intake.pain_duration) == ("left", "6_to_12_weeks")


@pytest.mark.e2e
def test_booking_works_without_javascript(
    bookable: None,
    site_url: str,
    celery_worker: CeleryWorker,
    inbox: Inbox,
    open_browser: OpenBrowser,
) -> None:
    email = "ben.carter@example.org"

    with open_browser(java_script_enabled=False, timezone_id="America/Chicago") as context:
        page = first_page(context)
        page.goto(f"{site_url}/book/")
        expect(page.get_by_role("heading", level=1)).to_have_text("Book a consultation")
        choose_service_and_clinician(page)
        # No script told the server the browser's zone: times are on the clinic's clock, and
        # the page offers a choice instead.
        assert "tz" not in {cookie["name"] for cookie in context.cookies()}
        expect(page.locator(".time-zone-note")).to_have_text("Times in Europe/London")
        page.get_by_label("Times are shown in").select_option("America/Chicago")
        page.get_by_role("button", name="Change time zone").click()

        start = pick_time(page, day=1, clock="09:30", zone=CHICAGO)
        fill_details(page, full_name="Ben Carter", email=email, zone=CHICAGO)
        appointment_uuid = book(page, start=start, zone=CHICAGO, email=email)

        booked = read_invitation(only(inbox.wait_for(1, to=email), "Booked:"))
        assert (booked.method, booked.sequence, booked.starts_at) == ("REQUEST", 0, start)

    appointment = Appointment.objects.select_related("client__user").get()
    assert str(appointment.uuid) == appointment_uuid
    assert appointment.status == AppointmentStatus.CONFIRMED
    assert appointment.starts_at == start
    assert appointment.client.user.time_zone == "America/Chicago"
    assert Client.objects.get().user.email == email
