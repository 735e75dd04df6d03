"""Every page of the site, for every kind of person, in Chromium: no WCAG 2.1 A/AA violation
that axe-core finds, and no sideways scrolling in a 320 px wide window or at 200 % zoom of a
1280 px one (640 px). How the checks work: tests/a11y.py.

The pages come from Django's URL resolver (``tests.page_fuzz.site_pages``, the admin's
included), their parameters filled with the person's own objects, so a new page is audited
without anyone listing it. Each role opens every URL pattern; every distinct page reached is
audited (a redirect to sign-in, a 403 and a 404 page once per role). What a GET cannot show
(errors after a submit, the booking journey, emailed links, the device check, the waiting room,
the call with the assessment panel) is in ``STATES``: named steps that drive a page there.

Nothing is skipped silently: ``test_every_url_pattern_is_audited_or_not_a_page`` fails for a
pattern that answers no role with a page of its own (status 200, HTML) nor is shown by a state,
unless ``NOT_PAGES`` says why it is not a page (a download, an action a form on another page
posts to, ...); and for an entry of ``NOT_PAGES`` that is a page after all.
``test_a_planted_violation_is_found`` keeps the audit itself honest.

As in the other browser tests, the ORM is used before the browser starts, never inside (see
tests/e2e/conftest.py): every row, link and session is made first.
"""

import dataclasses
import datetime as dt
import re
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client as HttpClient
from django.urls import resolve
from django.urls.exceptions import Resolver404
from django.utils import timezone
from playwright.sync_api import Browser, BrowserContext, Page, expect

from assessments.programs.links import done_url, pain_url, reminders_url, unsubscribe_url
from assessments.programs.reminders import preference_for
from assessments.programs.services import client_today
from assessments.services import assessment_start_in_person
from clinic.audit import SYSTEM
from clinic.models import Client, Clinician, ClinicianNote, User
from sessions.models import (
    Appointment,
    AppointmentStatus,
    ParticipantRole,
    RoomEvent,
    RoomEventKind,
    Service,
    TimeOff,
)
from tests import factories
from tests.a11y import audit, too_wide, violations_text
from tests.asgi_server import AsgiServer
from tests.assessments.conftest import ANKLE_AND_VALGUS, make_plan
from tests.conftest import session_key_for
from tests.e2e.conftest import LaunchBrowser, Room
from tests.e2e.panel import field, open_step, type_in
from tests.e2e.test_booking_journey import fill_details
from tests.e2e.test_video_call import ARGS, pass_device_check, start_call
from tests.page_fuzz import NOWHERE, SEGMENT_SAMPLES, site_pages
from tests.page_fuzz import Page as UrlPattern
from tests.smtp import Inbox

ROLES = ("visitor", "client", "clinician", "admin")
DESKTOP = {"width": 1280, "height": 800}
# A phone held upright, and a 1280 px window at 200 % zoom.
NARROW_WIDTHS = (320, 640)
SIGN_IN = "/login/"
ZONE = zoneinfo.ZoneInfo("America/New_York")  # the booking visitor's browser
# The page each signed-in role lands on: it must answer them (the cookie sign-in worked).
HOME = {"visitor": "", "client": "me/", "clinician": "clinic/", "admin": "admin/"}

# The admin keeps clinical records, appointments and the audit trail: it cannot add or delete
# them (those addresses answer everyone 403, and the 403 page is audited once per role).
ADMIN_KEEPS = {
    "assessments/assessment": ("add", "delete"),
    "assessments/plan": ("add", "delete"),
    "assessments/planphase": ("add", "delete"),
    "assessments/reminder": ("add", "delete"),
    "clinic/auditevent": ("add", "delete"),
    "clinic/cliniciannote": ("add", "delete"),
    "virtual_sessions/appointment": ("add", "delete"),
    "clinic/client": ("delete",),
    "clinic/consentdocument": ("delete",),
}
_ADMIN_ACTION = {"add": "add/", "delete": "%(object_id)s/delete/"}
# The admin's short address of a record (admin/<app>/<model>/<id>/) only redirects to the
# record's change page, which is audited.
_ADMIN_SHORT_ADDRESS = re.compile(r"^admin/\w+/\w+/%\(object_id\)s/$")

# URL patterns that are not pages, and why. A pattern here is not opened by the walk; the
# coverage test fails if one of them answers anybody with a page of its own.
NOT_PAGES: dict[str, str] = {
    "healthz": "health check for monitors (plain text)",
    "healthz/live": "health check for monitors (plain text)",
    "healthz/ready": "health check for monitors (plain text)",
    "healthz/beat": "health check for monitors (plain text)",
    "appointments/%(appointment_uuid)s/calendar.ics": "calendar file download",
    "assessments/%(assessment_uuid)s/snapshots/%(snapshot_uuid)s.jpg": "image download",
    "admin/jsi18n/": "the admin's JavaScript translations",
    "admin/autocomplete/": "the admin's JSON search for select boxes",
    "admin/login/": "redirects to the site's sign-in page (login/), which is audited",
    "admin/logout/": "POST only: the admin's sign-out button",
    "admin/%(url)s": "the admin's catch-all: any other address under admin/ is a 404 page",
    "admin/r/%(content_type_id)s/%(object_id)s/": (
        "the admin's 'view on site' redirect; no model has a page on the site (404)"
    ),
    "logout/": "POST only: the sign-out button in the header",
    "login/link/": "POST only: the clients' form on login/ (its answer: state 'sign-in link "
    "from the email')",
    "login/staff/": "POST only: the staff form on login/ (its error page: state "
    "'staff sign-in with a wrong password')",
    "appointments/%(appointment_uuid)s/room/admit/": "POST only: 'Let … in' in the room",
    "appointments/%(appointment_uuid)s/assessment/": (
        "POST only: 'Start the guided assessment' in the room"
    ),
    "appointments/%(appointment_uuid)s/assessment/panel/": (
        "a fragment the room loads into itself (state 'the call with the assessment panel')"
    ),
    "assessments/%(assessment_uuid)s/addenda/": "POST only: the addendum form on the results",
    "assessments/%(assessment_uuid)s/complete/": "POST only: 'Complete' on the assessment form",
    "assessments/%(assessment_uuid)s/snapshots/": "POST only: the room's snapshot upload",
    "assessments/%(assessment_uuid)s/steps/%(protocol)s/": (
        "POST only: each step's form on the assessment page, for browsers without JavaScript"
    ),
    "clinic/availability/hours/": "POST only: the hours form on clinic/availability/ (state "
    "'working hours with bad values' shows its errors)",
    "clinic/availability/%(kind)s/add/": "POST only: time off and extra hours forms on "
    "clinic/availability/",
    "clinic/availability/%(kind)s/%(item_uuid)s/remove/": "POST only: 'Remove' buttons on "
    "clinic/availability/",
    "clinic/clients/%(client_uuid)s/assessments/": "POST only: 'Start an in-person "
    "assessment' on the client's page",
    "clinic/clients/%(client_uuid)s/notes/": "POST only: the note form on the client's page",
    "clinic/clients/%(client_uuid)s/red-flag/clear/": "POST only: 'Clear' on the client's page",
    "plans/%(plan_uuid)s/note/": "POST only: the note form on the plan review",
    "plans/%(plan_uuid)s/items/%(item_uuid)s/move/": "POST only: buttons on the plan review",
    "plans/%(plan_uuid)s/items/%(item_uuid)s/swap/": "POST only: buttons on the plan review",
    "plans/%(plan_uuid)s/items/%(item_uuid)s/dose/": "POST only: buttons on the plan review",
    "plans/%(plan_uuid)s/items/%(item_uuid)s/remove/": "POST only: buttons on the plan review",
    "program/%(plan_uuid)s/done/": "POST only: the ticks on program/",
    "program/%(plan_uuid)s/pain/": "POST only: the pain rating on program/",
    **{
        f"admin/{model}/{_ADMIN_ACTION[action]}": "the admin cannot add or delete these records"
        for model, actions in ADMIN_KEEPS.items()
        for action in actions
    },
    **{
        pattern.template: "redirects to the record's change page, which is audited"
        for pattern in site_pages()
        if _ADMIN_SHORT_ADDRESS.match(pattern.template)
    },
}


# --- The clinic every role walks through ------------------------------------------------------


@dataclass(frozen=True)
class Clinic:
    """What the pages are filled with, made before any browser starts: Ana (Maya's client) with
    a program under way, a plan of a later assessment waiting for Maya, an assessment in
    progress, a past session with room events, a note and time off; one row of each model
    the admin shows. Values are URL parameter values by name, links are paths."""

    values: dict[str, str]
    admin_ids: dict[str, str]
    sessions: dict[str, str | None]
    links: dict[str, str]
    in_progress: str  # an in-person assessment under way
    client_email: str


def _path(url: str) -> str:
    return urlsplit(url).path


@pytest.fixture
def clinic(
    library: None,
    consent_documents: None,
    service: Service,
    clinician: Clinician,
    client_record: Client,
    appointment: Appointment,
    admin_user: User,
) -> Clinic:
    now = timezone.now()
    program = make_plan(
        client=client_record,
        clinician=clinician,
        values=ANKLE_AND_VALGUS,
        now=now - dt.timedelta(days=4),
        approve_at=now - dt.timedelta(days=3),
    )
    waiting = make_plan(
        client=client_record,
        clinician=clinician,
        values={**ANKLE_AND_VALGUS, "knee_to_wall.right.1.ktw_cm": 10},
        now=now - dt.timedelta(hours=1),
    )
    in_progress = assessment_start_in_person(
        client=client_record, clinician=clinician, actor=clinician.user, context=SYSTEM, now=now
    )
    past = factories.make_appointment(
        service=service,
        clinician=clinician,
        client=client_record,
        starts_at=now.replace(microsecond=0) - dt.timedelta(days=2),
        status=AppointmentStatus.COMPLETED,
    )
    for minutes, role, kind in [
        (-2, ParticipantRole.CLIENT, RoomEventKind.JOINED),
        (0, ParticipantRole.CLINICIAN, RoomEventKind.JOINED),
        (1, ParticipantRole.CLINICIAN, RoomEventKind.ADMITTED),
        (45, ParticipantRole.CLINICIAN, RoomEventKind.ENDED),
    ]:
        RoomEvent.objects.create(
            appointment=past,
            kind=kind,
            role=role,
            user=client_record.user if role == ParticipantRole.CLIENT else clinician.user,
            at=past.starts_at + dt.timedelta(minutes=minutes),
        )
    ClinicianNote.objects.create(
        client=client_record, author=clinician.user, body="Ease into the lunges."
    )
    TimeOff.objects.create(
        clinician=clinician,
        starts_at=now + dt.timedelta(days=20),
        ends_at=now + dt.timedelta(days=21),
        note="Course",
    )
    preference_for(client_record)
    Group.objects.get_or_create(name="Front desk")
    item = program.phases.get(number=1).items.order_by("position", "id").first()
    today = client_today(program, now)

    admin_ids = {}
    for model in admin.site._registry:
        first = model._default_manager.order_by("pk").first()
        assert first is not None, f"the clinic has no {model._meta.label} for its admin pages"
        admin_ids[f"admin/{model._meta.app_label}/{model._meta.model_name}/"] = str(first.pk)

    return Clinic(
        values={
            "service_uuid": str(service.uuid),
            "appointment_uuid": str(past.uuid),
            "client_uuid": str(client_record.uuid),
            "assessment_uuid": str(program.assessment.uuid),
            "plan_uuid": str(waiting.uuid),
            "item_uuid": str(item.uuid),
        },
        admin_ids=admin_ids,
        sessions={
            "visitor": None,
            "client": session_key_for(client_record.user),
            "clinician": session_key_for(clinician.user),
            "admin": session_key_for(admin_user),
        },
        links={
            "pain": _path(pain_url(plan_uuid=str(program.uuid), day=today, score=3)),
            "done": _path(
                done_url(plan_uuid=str(program.uuid), item_uuid=str(item.uuid), day=today)
            ),
            "reminders": _path(reminders_url(client_uuid=str(client_record.uuid))),
            "unsubscribe": _path(unsubscribe_url(client_uuid=str(client_record.uuid))),
        },
        in_progress=str(in_progress.uuid),
        client_email=client_record.user.email,
    )


def address(pattern: UrlPattern, clinic: Clinic) -> str:
    """The pattern's path with the clinic's own objects in it (the admin's: one of its model's
    records), and page_fuzz's samples in the text segments."""
    values = {name: clinic.values.get(name, NOWHERE) for name in pattern.uuid_params}
    record = clinic.admin_ids.get(pattern.template.split("%(")[0], "1")
    for name in pattern.text_params:
        values[name] = record if name in {"object_id", "id"} else SEGMENT_SAMPLES.get(name, "1")
    return pattern.fill(values)


def pattern_of(path: str) -> str | None:
    """The URL pattern (as site_pages() names it) a path is an address of."""
    try:
        match = resolve(path)
    except Resolver404:
        return None
    return re.sub(r"<(?:\w+:)?(\w+)>", r"%(\1)s", match.route)


# --- Auditing a page --------------------------------------------------------------------------


@dataclass
class Auditor:
    """Audits pages and keeps what it found, so that one test reports every problem."""

    role: str
    problems: list[str] = dataclasses.field(default_factory=list)
    audited: int = 0
    # URL pattern -> status of every page audited (for the states' checks).
    shown: dict[str, set[int]] = dataclasses.field(default_factory=dict)

    def check(self, page: Page, what: str, *, status: int) -> None:
        self.audited += 1
        where = urlsplit(page.url)
        shown_at = where.path + (f"?{where.query}" if where.query else "")
        pattern = pattern_of(where.path)
        if pattern is not None:
            self.shown.setdefault(pattern, set()).add(status)
        page.set_viewport_size(DESKTOP)
        violations = audit(page)
        if violations:
            self.problems.append(f"{what} ({shown_at}, {status}):\n{violations_text(violations)}")
        for width in NARROW_WIDTHS:
            page.set_viewport_size({"width": width, "height": DESKTOP["height"]})
            wide = too_wide(page)
            if wide:
                self.problems.append(f"{what} ({shown_at}) at {width} px: {wide}")
        page.set_viewport_size(DESKTOP)


class Statuses:
    """The status of each page a tab loaded (the last answer for its address), so that a page
    reached by a click or a submit is reported with its status as a page opened by URL is."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.by_url: dict[str, int] = {}
        page.on("response", self._seen)

    def _seen(self, response) -> None:
        if response.request.is_navigation_request() and response.frame == self.page.main_frame:
            self.by_url[urldefrag(response.url).url] = response.status

    def now(self) -> int:
        return self.by_url.get(urldefrag(self.page.url).url, 0)


@dataclass
class Visit:
    """One role's browser: its pages, the clinic, and the auditor the states report to."""

    role: str
    browser: Browser
    server: AsgiServer
    clinic: Clinic
    inbox: Inbox
    auditor: Auditor
    room: Room
    artifacts: Path
    contexts: list[BrowserContext] = dataclasses.field(default_factory=list)
    pages: list[Page] = dataclasses.field(default_factory=list)

    def url(self, path: str) -> str:
        return self.server.url + path

    def context(self, role: str, **options) -> BrowserContext:
        """A browser context signed in as ``role`` (by its session cookie); its pages keep the
        status of what they load and are kept for a screenshot if a state fails."""
        context = self.browser.new_context(viewport=DESKTOP, **options)
        session = self.clinic.sessions[role]
        if session is not None:
            context.add_cookies([{"name": "sessionid", "value": session, "url": self.server.url}])
        context.on("page", self._watch)
        self.contexts.append(context)
        return context

    def close(self) -> None:
        """Close every context opened so far (cameras, sockets and calls stop with them)."""
        for context in self.contexts:
            context.close()
        self.contexts.clear()
        self.pages.clear()

    def _watch(self, page: Page) -> None:
        if not hasattr(page, "statuses"):
            page.statuses = Statuses(page)  # type: ignore[attr-defined]
            self.pages.append(page)

    def page(self, role: str | None = None, **options) -> Page:
        page = self.context(role or self.role, **options).new_page()
        self._watch(page)
        return page

    def screenshot(self, name: str) -> Path | None:
        """The last page opened, for a state that failed."""
        if not self.pages:
            return None
        path = self.artifacts / (re.sub(r"\W+", "-", name) + ".png")
        try:
            self.pages[-1].screenshot(path=path, full_page=True)
        except Exception:  # a closed or crashed page has nothing to show
            return None
        return path

    def check(self, page: Page, what: str) -> None:
        self.auditor.check(page, what, status=page.statuses.now())  # type: ignore[attr-defined]


# --- Page states a GET cannot reach ----------------------------------------------------------


def heading(page: Page):
    return page.get_by_role("heading", level=1)


def booking_journey(visit: Visit) -> None:
    """Service, clinician, a time, the details (sent empty first), the confirmation; then the
    links of the confirmation email: the booking, a new time and cancelling."""
    page = visit.page(timezone_id=ZONE.key)
    page.goto(visit.url("/book/"))
    # timezone.js reports the browser's zone and reloads the page once.
    expect(page.locator("body[data-time-zone-default]")).to_have_count(0)
    page.get_by_role("link", name="Virtual assessment").click()
    expect(heading(page)).to_contain_text("who would you like to see?")
    page.get_by_role("link", name="Maya Okafor").click()
    expect(heading(page)).to_have_text("Pick a time")
    visit.check(page, "booking: the times of one clinician")
    # The week's last day: far enough ahead to be changed online from the email's link.
    page.locator("section.day").last.get_by_role("link").first.click()
    expect(heading(page)).to_have_text("Your details")
    visit.check(page, "booking: details")
    page.get_by_role("button", name="Book this time").click()
    expect_error_summary(page)
    visit.check(page, "booking: details sent with nothing filled")
    email = "dana.reyes@example.org"
    fill_details(page, full_name="Dana Reyes", email=email, zone=ZONE)
    page.get_by_role("button", name="Book this time").click()
    expect(heading(page)).to_have_text("You are booked")
    visit.check(page, "booking: confirmation")

    manage = _link_in_email(visit.inbox, email, "/appointments/manage/")
    page.goto(visit.url(manage))
    expect(heading(page)).to_have_text("Your appointment")
    visit.check(page, "emailed link: the booking")
    page.get_by_role("link", name="Reschedule").click()
    expect(heading(page)).to_have_text("Pick a new time")
    visit.check(page, "emailed link: pick a new time")
    page.locator("section.day").get_by_role("button").first.click()
    expect(heading(page)).to_have_text("Move your appointment?")
    visit.check(page, "emailed link: confirm the new time")
    page.goto(visit.url(manage))
    page.get_by_role("link", name="Cancel appointment").click()
    expect(heading(page)).to_have_text("Cancel this appointment?")
    visit.check(page, "emailed link: cancel")


def _link_in_email(inbox: Inbox, to: str, path: str, timeout: float = 20) -> str:
    """The path of the first link to ``path…`` in an email to ``to``."""
    pattern = re.compile(rf"https?://[^/\s\"<>]+({re.escape(path)}[^\s\"<>]+)")
    deadline = time.monotonic() + timeout
    while True:
        for message in inbox.to(to):
            found = pattern.search(message.get_body(preferencelist=("plain",)).get_content())
            if found:
                return found.group(1)
        if time.monotonic() > deadline:
            raise AssertionError(f"no email to {to} with a link to {path}")
        time.sleep(0.1)


# Every link of the error summary leads to an element of the page.
SUMMARY_TARGETS = """(summary) => [...summary.querySelectorAll("a")]
  .map((link) => link.getAttribute("href").slice(1))
  .filter((id) => !document.getElementById(id))"""


def expect_error_summary(page: Page) -> None:
    """GOV.UK's error pattern after an invalid submit: the title says "Error:", focus is on
    the summary, and each of its links leads to a field of the page."""
    expect(page).to_have_title(re.compile(r"^Error: "))
    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("listitem")).not_to_have_count(0)
    assert summary.evaluate(SUMMARY_TARGETS) == [], page.url


def sign_in_errors(visit: Visit) -> None:
    page = visit.page()
    page.goto(visit.url(SIGN_IN))
    clients = page.locator("section", has=page.get_by_role("heading", name="Clients"))
    clients.get_by_label("Email").fill("ana at example")
    clients.get_by_role("button", name="Email me a sign-in link").click()
    expect(clients.locator(".field-error")).to_be_visible()
    expect_error_summary(page)
    visit.check(page, "sign-in link asked for a bad email")
    page.goto(visit.url(SIGN_IN))
    staff = page.locator("section", has=page.get_by_role("heading", name="Clinicians"))
    staff.get_by_label("Email").fill("maya@clinic.example")
    staff.get_by_label("Password").fill("not the password")
    staff.get_by_role("button", name="Sign in").click()
    expect_error_summary(page)
    visit.check(page, "staff sign-in with a wrong password")


def sign_in_link_from_email(visit: Visit) -> None:
    page = visit.page()
    page.goto(visit.url(SIGN_IN))
    clients = page.locator("section", has=page.get_by_role("heading", name="Clients"))
    clients.get_by_label("Email").fill(visit.clinic.client_email)
    clients.get_by_role("button", name="Email me a sign-in link").click()
    expect(heading(page)).to_have_text("Check your email")
    visit.check(page, "sign-in link sent")
    page.goto(visit.url(_link_in_email(visit.inbox, visit.clinic.client_email, "/login/link/")))
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    visit.check(page, "emailed link: sign in")


def device_check(visit: Visit) -> None:
    page = visit.page()
    page.goto(visit.url("/check-devices/"))
    expect(page.locator("#devices")).to_have_attribute("data-camera", "on")
    expect(page.locator("#devices")).to_have_attribute("data-microphone", "heard")
    visit.check(page, "device check with a camera and microphone working")


def profile_errors(visit: Visit) -> None:
    page = visit.page()
    page.goto(visit.url("/me/profile/"))
    page.get_by_label("Full name").fill("")
    page.get_by_role("button", name="Save").click()
    expect_error_summary(page)
    visit.check(page, "profile sent with the name missing")


def reminder_settings(visit: Visit) -> None:
    page = visit.page()
    page.goto(visit.url(visit.clinic.links["reminders"]))
    expect(heading(page)).to_have_text("Your reminders")
    visit.check(page, "emailed link: reminder settings")
    page.get_by_label("Send my reminders at").fill("")
    page.get_by_role("button", name="Save the time").click()
    expect_error_summary(page)
    visit.check(page, "emailed link: reminder settings sent without a time")
    page.goto(visit.url(visit.clinic.links["unsubscribe"]))
    expect(heading(page)).to_have_text("Stop reminders?")
    visit.check(page, "emailed link: stop reminders")


def program_links(visit: Visit) -> None:
    """The pain rating and 'done' links of the program's emails: each opens a page whose
    script submits it (mail scanners, which run no scripts, record nothing). First as a
    browser without that script shows it, then as everyone else sees it."""
    page = visit.page()
    page.route("**/auto_submit.js", lambda route: route.abort())
    for link, button in [("pain", "Save my rating"), ("done", "Tick it off")]:
        page.goto(visit.url(visit.clinic.links[link]))
        expect(page.get_by_role("button", name=button)).to_be_visible()
        visit.check(page, f"emailed link: {link}, before it is sent")
    page.unroute("**/auto_submit.js")
    for link, saved in [("pain", "Thank you: pain 3 of 10 saved"), ("done", "Well done: ")]:
        page.goto(visit.url(visit.clinic.links[link]))
        expect(heading(page)).to_contain_text(saved)
        visit.check(page, f"emailed link: {link}, recorded")


def waiting_room(visit: Visit) -> None:
    page = visit.page()
    page.goto(visit.room.url)
    expect(page.get_by_role("button", name="Go to the waiting room")).to_be_enabled()
    visit.check(page, "the room's device check")
    pass_device_check(page, "Go to the waiting room")
    expect(page.locator("#room")).to_have_attribute("data-step", "waiting")
    visit.check(page, "the waiting room")


def working_hours_errors(visit: Visit) -> None:
    page = visit.page()
    page.goto(visit.url("/clinic/availability/"))
    hours = page.locator("form", has=page.get_by_role("button", name="Add hours"))
    hours.get_by_label(re.compile(r"^From")).fill("17:00")
    hours.get_by_label(re.compile(r"^To")).fill("09:00")
    hours.get_by_role("button", name="Add hours").click()
    expect_error_summary(page)
    visit.check(page, "working hours that end before they start")


KTW_LEFT = "knee_to_wall.left.1.ktw_cm"


def assessment_out_of_range(visit: Visit) -> None:
    page = visit.page()
    page.goto(visit.url(f"/assessments/{visit.clinic.in_progress}/"))
    expect(page.locator("#assessment")).to_have_attribute("data-connection", "open")
    visit.check(page, "the assessment form")
    open_step(page, "knee_to_wall")
    type_in(page, KTW_LEFT, "40")
    expect(field(page, KTW_LEFT)).to_have_attribute("data-state", "refused")
    visit.check(page, "the assessment form with a value out of range")


def call_with_panel(visit: Visit) -> None:
    """Maya lets Ana in; the call runs; Maya starts the assessment and opens a step."""
    client = visit.context("client")
    clinician = visit.context("clinician")
    client_page, page = start_call(visit.room, client, clinician)
    page.get_by_role("button", name="Start the guided assessment").click()
    expect(page.locator("#assessment")).to_have_attribute("data-connection", "open")
    open_step(page, "knee_to_wall")
    expect(client_page.locator("#prompt")).to_be_visible()
    visit.check(page, "the call with the assessment panel open on a step")
    visit.check(client_page, "the client's side of the call, a test shown")


@dataclass(frozen=True)
class State:
    name: str
    role: str  # whose test drives it
    drive: Callable[[Visit], None]
    # URL patterns it shows with a page of their own (status 200): they count as audited.
    pages: tuple[str, ...] = ()


STATES = [
    State(
        "booking journey and the confirmation's links",
        "visitor",
        booking_journey,
        (
            "book/%(service_uuid)s/details/",
            "book/done/%(appointment_uuid)s/",
            "appointments/manage/%(token)s/",
            "appointments/manage/%(token)s/reschedule/",
            "appointments/manage/%(token)s/cancel/",
        ),
    ),
    State(
        "sign-in with a bad email, staff sign-in with a wrong password", "visitor", sign_in_errors
    ),
    State(
        "sign-in link from the email",
        "visitor",
        sign_in_link_from_email,
        ("login/link/%(token)s/",),
    ),
    State("device check with a fake camera", "visitor", device_check),
    State("profile with errors", "client", profile_errors),
    State(
        "reminder settings from the email, with errors",
        "client",
        reminder_settings,
        ("reminders/%(token)s/", "reminders/%(token)s/unsubscribe/"),
    ),
    State(
        "pain and 'done' links from the program's emails",
        "client",
        program_links,
        ("program/pain/%(token)s/", "program/done/%(token)s/"),
    ),
    State("the room's device check and the waiting room", "client", waiting_room),
    State("working hours with bad values", "clinician", working_hours_errors),
    State("assessment form, value out of range", "clinician", assessment_out_of_range),
    State("the call with the assessment panel", "clinician", call_with_panel),
]
STATE_PAGES = {pattern for state in STATES for pattern in state.pages}


# --- The walk ---------------------------------------------------------------------------------


def page_kind(final_url: str, status: int) -> str:
    """What makes a page state distinct: its address and status, except that every redirect
    to sign-in, and every 403 or 404 page, is the same page."""
    where = urlsplit(final_url)
    if where.path == SIGN_IN:
        return "sign-in"
    if status in {403, 404}:
        return f"refused {status}"
    return f"{status} {where.path}?{where.query}"


def walk(visit: Visit) -> dict[str, int]:
    """Open every URL pattern as the role; audit each page state once. Returns the status each
    pattern answered."""
    page = visit.page()
    seen: set[str] = set()
    answered = {}
    for pattern in site_pages():
        if pattern.template in NOT_PAGES:
            continue
        response = page.goto(visit.url(address(pattern, visit.clinic)))
        status = response.status if response is not None else 0
        answered[pattern.template] = status
        kind = page_kind(page.url, status)
        if kind not in seen:
            seen.add(kind)
            visit.auditor.check(
                page, f"{visit.role}: {pattern.template or '(home)'}", status=status
            )
    return answered


# The pages as people see them: DEBUG off, so errors show the clinic's own pages, not Django's.
AS_PEOPLE_SEE_IT = pytest.mark.parametrize(
    "asgi_server", [{"env": {"DEBUG": "false"}}], indirect=True, ids=["debug-off"]
)


@pytest.mark.e2e
@AS_PEOPLE_SEE_IT
@pytest.mark.parametrize("role", ROLES)
def test_every_page_and_state_is_accessible(
    role: str,
    clinic: Clinic,
    room: Room,
    asgi_server: AsgiServer,
    inbox: Inbox,
    launch_browser: LaunchBrowser,
    tmp_path: Path,
) -> None:
    auditor = Auditor(role)
    states = [state for state in STATES if state.role == role]
    started = time.monotonic()
    with launch_browser(args=ARGS) as browser:
        visit = Visit(role, browser, asgi_server, clinic, inbox, auditor, room, tmp_path)
        answered = walk(visit)
        visit.close()
        walked = time.monotonic()
        for state in states:
            try:
                state.drive(visit)
            except Exception as error:  # one state stuck does not hide the others' problems
                shot = visit.screenshot(state.name)
                auditor.problems.append(
                    f"state {state.name!r} could not be driven ({shot}): {error}"
                )
            visit.close()
    print(
        f"{role}: {len(answered)} patterns, {auditor.audited} pages audited; walk "
        f"{walked - started:.0f} s, states {time.monotonic() - walked:.0f} s"
    )

    assert answered[HOME[role]] == 200, f"{role} was not shown {HOME[role]!r}: signed in?"
    for state in states:
        for pattern in state.pages:
            assert 200 in auditor.shown.get(pattern, set()), (
                f"state {state.name!r} did not show {pattern} (200): {auditor.shown.get(pattern)}"
            )
    assert not auditor.problems, f"{len(auditor.problems)} problems:\n" + "\n".join(
        auditor.problems
    )


# --- Nothing is left out ----------------------------------------------------------------------


def shows_a_page(http: HttpClient, path: str) -> bool:
    """Whether a GET answers with a page of its own: a whole HTML document (not a redirect, an
    error, a download or a fragment that htmx puts into a page)."""
    response = http.get(path)
    return (
        response.status_code == 200
        and response["Content-Type"].startswith("text/html")
        and b"<html" in response.content[:1000].lower()
    )


@pytest.mark.django_db
def test_every_url_pattern_is_audited_or_not_a_page(clinic: Clinic) -> None:
    """The walk opens every pattern but NOT_PAGES as every role, with the same addresses as
    here: a pattern that answers some role with a page is audited in that role's walk."""
    patterns = site_pages()
    templates = {pattern.template for pattern in patterns}
    assert set(NOT_PAGES) <= templates, f"not patterns: {set(NOT_PAGES) - templates}"
    assert templates >= STATE_PAGES, f"not patterns: {STATE_PAGES - templates}"
    assert not STATE_PAGES & set(NOT_PAGES), STATE_PAGES & set(NOT_PAGES)
    people = {}
    for role in ROLES:
        people[role] = HttpClient()
        if clinic.sessions[role] is not None:
            people[role].cookies[settings.SESSION_COOKIE_NAME] = clinic.sessions[role]

    unaudited, pages_after_all = [], []
    for pattern in patterns:
        path = address(pattern, clinic)
        if pattern.template in NOT_PAGES:
            shown_to = [role for role in ROLES if shows_a_page(people[role], path)]
            if shown_to:
                pages_after_all.append(f"{pattern.template}: a page for {', '.join(shown_to)}")
        elif pattern.template not in STATE_PAGES and not any(
            shows_a_page(people[role], path) for role in ROLES
        ):
            unaudited.append(f"{pattern.template} ({path})")

    assert not unaudited, (
        "No role is shown these patterns, no state shows them and NOT_PAGES does not say why "
        "they are not pages:\n" + "\n".join(unaudited)
    )
    assert not pages_after_all, "NOT_PAGES lists pages:\n" + "\n".join(pages_after_all)


# --- The audit finds what it should -----------------------------------------------------------

# An image without a text alternative, a box wider than a phone, a wide table in a scroll box
# (fine: it scrolls on its own) and visually hidden text in that table that is positioned
# against the page, not the box, so it escapes the box.
PLANT = """() => {
  const main = document.querySelector("main");
  main.insertAdjacentHTML("beforeend", `
    <img id="planted-image" src="/static/none.png" width="40" height="40">
    <div id="planted-wide" style="width: 900px; height: 10px"></div>
    <div class="table-scroll" id="planted-scroll" style="position: static">
      <table style="width: 1500px"><tr><td>Wide but scrolled
        <span class="visually-hidden" id="planted-escape" style="left: 1400px">Escapes</span>
      </td></tr></table>
    </div>`);
}"""
UNPLANT = "(id) => document.getElementById(id).remove()"


@pytest.mark.e2e
@AS_PEOPLE_SEE_IT
def test_a_planted_violation_is_found(
    asgi_server: AsgiServer, launch_browser: LaunchBrowser
) -> None:
    with launch_browser() as browser:
        page = browser.new_page(viewport=DESKTOP)
        page.goto(asgi_server.url + SIGN_IN)
        before = audit(page)
        assert "image-alt" not in {rule["id"] for rule in before}, violations_text(before)

        page.evaluate(PLANT)
        found = {rule["id"]: rule for rule in audit(page)}
        assert "image-alt" in found, violations_text(list(found.values()))
        assert [node["target"] for node in found["image-alt"]["nodes"]] == [["#planted-image"]]
        assert "wcag2a" in page.evaluate("() => axe.getRules(['wcag2a']).map((r) => r.tags).flat()")

        page.set_viewport_size({"width": 640, "height": 800})
        wide = too_wide(page)
        assert wide is not None
        assert "div#planted-wide" in wide, wide
        assert "span#planted-escape" in wide, wide
        # What is wide inside the scroll box scrolls there: not a reason.
        assert "table" not in wide, wide
        page.evaluate(UNPLANT, "planted-wide")
        page.evaluate(UNPLANT, "planted-escape")
        assert too_wide(page) is None
