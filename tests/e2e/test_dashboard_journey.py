"""The clinician's day in a real browser: Maya signs in with her password, sees Ana arrive in
the waiting room without reloading, joins and lets her in, records a short assessment,
completes it, and afterwards approves the proposed plan from the queue; Ana gets the program by
email. Then the same pages with the keyboard alone, printed, and at a tablet's and a laptop's
width. Screenshots of the main pages go to test-artifacts/screenshots/ (docs/dashboard.md
shows copies of them from docs/screenshots/)."""

import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Dialog, Locator, Page, expect

from assessments.models import Plan, PlanStatus
from clinic.audit import SYSTEM
from clinic.models import Clinician
from clinic.services import intake_submit
from dashboard.charts import SERIES
from sessions.models import AppointmentStatus, Service
from tests import factories
from tests.dashboard.test_colour_contrast import contrast
from tests.e2e.conftest import LaunchBrowser, Room
from tests.e2e.test_video_call import (
    ARGS,
    CLIENT,
    expect_connected,
    pass_device_check,
    person,
)
from tests.smtp import Inbox

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
PASSWORD = "a-long-clinician-password"  # tests.factories.make_clinician
TABLET = {"width": 820, "height": 1180}
LAPTOP = {"width": 1366, "height": 768}
# The accessible name, or the role, of whatever has the focus.
FOCUSED = """() => {
  const element = document.activeElement;
  return (element.getAttribute("aria-label") || element.innerText || element.id || element.tagName)
    .trim().split("\\n")[0];
}"""
# How each point is drawn, colour left out: what it looks like in grey print.
MARKERS = """(chart) => [...chart.querySelectorAll("svg .dot")].map((dot) => {
  const style = getComputedStyle(dot);
  const open = style.fill === "none" || style.fill === "rgb(255, 255, 255)";
  return `r=${dot.getAttribute("r")} ${open ? "open" : "filled"} dash=${style.strokeDasharray}`;
})"""

# Every colour a series' line or point is painted in (threshold included), as the browser paints
# it, with its opacity: the contrast is measured on what is shown, not on what a style declares.
# White is the inside of an open circle (its ring is the stroke).
PAINTED = """(chart) => [...chart.querySelectorAll("svg .series .line, svg .series .dot")]
  .flatMap((element) => {
    const style = getComputedStyle(element);
    const hex = (colour) => "#" + colour.match(/[\\d.]+/g).slice(0, 3)
      .map((n) => Number(n).toString(16).padStart(2, "0")).join("");
    const opacity = Number(style.opacity) * Number(style.strokeOpacity);
    return [style.stroke, style.fill]
      .filter((colour) => colour.startsWith("rgb") && colour !== "rgb(255, 255, 255)")
      .map((colour) => [hex(colour), opacity]);
  })"""
PLOT_BACKGROUND = (
    """(chart) => getComputedStyle(chart.querySelector("svg .plot .background")).fill"""
)


def shoot(page: Page, name: str, *, width: int = 1280) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": width, "height": 900})
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def tab_to(page: Page, target: Locator, *, limit: int = 40) -> list[str]:
    """Press Tab until ``target`` has the focus; the names of the stops on the way."""
    stops = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        stops.append(page.evaluate(FOCUSED))
        if target.evaluate("(element) => element === document.activeElement"):
            # The focus can be seen (the ring of :focus-visible).
            outline = target.evaluate(
                "(element) => [getComputedStyle(element).outlineStyle,"
                " getComputedStyle(element).outlineWidth]"
            )
            assert outline == ["solid", "3px"], (stops, outline)
            return stops
    raise AssertionError(f"{limit} presses of Tab never reached {target}: {stops}")


def overflowing(page: Page) -> list[str]:
    """The page, or the cards on it, when something in them is wider than they are."""
    return page.evaluate(
        """() => [document.documentElement, ...document.querySelectorAll("main .card")]
          .filter((element) => element.scrollWidth > element.clientWidth)
          .map((element) => element.id || element.getAttribute("aria-labelledby")
            || element.tagName)"""
    )


def more_clients(service: Service, clinician: Clinician) -> None:
    """Maya's other clients, so that the list and the week are not one row long."""
    now = timezone.now().replace(microsecond=0)
    clients = {}
    for name, email, days, status in (
        ("Chloé Martin", "chloe.martin@example.net", 3, AppointmentStatus.CONFIRMED),
        ("Dev Patel", "dev.patel@example.net", -6, AppointmentStatus.COMPLETED),
        ("Ines Costa", "ines.costa@example.net", 2, AppointmentStatus.CONFIRMED),
    ):
        clients[name] = factories.make_client(full_name=name, email=email)
        factories.make_appointment(
            service=service,
            clinician=clinician,
            client=clients[name],
            starts_at=now + dt.timedelta(days=days, hours=2),
            status=status,
        )
    # A red flag in the list.
    intake_submit(
        client=clients["Ines Costa"],
        answers={
            "knee_pain_side": "right",
            "pain_duration": "2_to_6_weeks",
            "pain_now": 5,
            "knee_giving_way": True,
        },
        actor=None,
        context=SYSTEM,
    )


def enter(page: Page, key: str, value: str) -> None:
    control = page.locator(f'[data-key="{key}"]')
    if control.evaluate("(element) => element.tagName") == "SELECT":
        control.select_option(value)
    else:
        control.fill(value)
        control.press("Tab")
    expect(page.locator(f'[id="m-{key}"]')).to_have_text("Saved")


@pytest.mark.e2e
def test_the_clinicians_day_from_sign_in_to_an_approved_plan(
    room: Room,
    service: Service,
    clinician: Clinician,
    launch_browser: LaunchBrowser,
    inbox: Inbox,
) -> None:
    url = room.server.url
    more_clients(service, clinician)
    with launch_browser(args=ARGS) as browser:
        maya = browser.new_context()
        dashboard = maya.new_page()

        # She signs in with her password and lands on her sessions.
        dashboard.goto(f"{url}/clinic/")
        expect(dashboard.get_by_role("heading", level=1)).to_have_text("Sign in")
        staff = dashboard.locator(
            "section", has=dashboard.get_by_role("heading", name="Clinicians")
        )
        staff.get_by_label("Email").fill("maya@clinic.example")
        staff.get_by_label("Password").fill(PASSWORD)
        staff.get_by_role("button", name="Sign in").click()
        expect(dashboard.get_by_role("heading", level=1)).to_have_text("Upcoming sessions")
        expect(dashboard.locator("#sessions")).to_have_attribute("data-live", "true")
        row = dashboard.locator(f'tr[data-appointment="{room.uuid}"]')
        expect(row.locator("td.status")).to_have_text("Confirmed")
        loaded_at = dashboard.evaluate("() => performance.timeOrigin")

        # Ana opens her join link and waits; Maya's page shows it without a reload.
        ana = person(browser, url=url, session=room.client_session, name="client")
        client_page = ana.new_page()
        client_page.goto(room.url)
        pass_device_check(client_page, "Go to the waiting room")
        expect(row.locator("td.status")).to_have_text("Client waiting")
        expect(dashboard.locator("#feed-status")).to_have_text(f"{CLIENT} is waiting.")
        assert dashboard.evaluate("() => performance.timeOrigin") == loaded_at
        shoot(dashboard, "01-sessions-client-waiting")

        # She joins from the row and lets Ana in.
        with maya.expect_page() as opened:
            row.get_by_role("link", name=f"Open the session with {CLIENT}").click(
                modifiers=["Control"]
            )
        call = opened.value
        pass_device_check(call, "Open the room")
        call.get_by_role("button", name=f"Let {CLIENT} in").click()
        expect_connected(client_page, call)

        # A short assessment during the call, then completed.
        call.get_by_role("button", name="Start the guided assessment").click()
        expect(call.locator("#assessment")).to_have_attribute("data-connection", "open")
        call.locator('.step-link[data-step="knee_to_wall"]').click()
        enter(call, "knee_to_wall.left.1.ktw_cm", "12")
        enter(call, "knee_to_wall.right.1.ktw_cm", "8")
        call.locator('.step-link[data-step="lunge"]').click()
        enter(call, "lunge.right.1.knee_position", "medial_to_big_toe")
        shoot(call, "02-call-with-assessment-panel", width=1440)
        call.once("dialog", lambda dialog: dialog.accept())
        call.get_by_role("button", name="Complete the assessment").click()
        expect(call.locator("#assessment h2")).to_have_text("Guided assessment completed")
        confirmations: list[str] = []

        def end(dialog: Dialog) -> None:
            confirmations.append(dialog.message)
            dialog.accept()

        call.once("dialog", end)
        call.get_by_role("button", name="End session for both").click()
        expect(call.locator("#room")).to_have_attribute("data-step", "ended")
        expect(row.locator("td.status")).to_have_text("Completed")

        # Afterwards: the queue of plans, the plan, approval.
        dashboard.reload()
        dashboard.get_by_role("link", name="1 plan waiting for your approval").click()
        expect(dashboard.get_by_role("heading", level=1)).to_have_text("Plans waiting for approval")
        shoot(dashboard, "03-plans-waiting")
        dashboard.get_by_role("link", name=f"Review the plan for {CLIENT}").click()
        expect(dashboard.get_by_role("heading", level=1)).to_have_text(
            f"Follow-up plan for {CLIENT}"
        )
        # Each exercise names the findings it answers (one or several).
        answers = dashboard.locator(".plan-item .meta").filter(has_text="Answers:")
        expect(answers.filter(has_text="Right ankle dorsiflexion restricted").first).to_be_visible()
        dashboard.get_by_label("Note to the client").fill("Little and often: ten minutes a day.")
        dashboard.get_by_role("button", name="Save the note").click()
        expect(dashboard.get_by_text("Note saved.")).to_be_visible()
        shoot(dashboard, "04-plan-review")
        plan_review = dashboard.url
        dashboard.get_by_role("button", name=f"Approve and send to {CLIENT}").click()
        expect(dashboard.get_by_role("heading", level=1)).to_have_text(
            f"Approve and send the program to {CLIENT}?"
        )
        dashboard.get_by_role("button", name="Yes, approve and send").click()
        expect(dashboard.locator(".message-success")).to_contain_text(
            f"Approved: {CLIENT} gets the program by email"
        )

        # The client's page: assessments, findings, program, charts.
        dashboard.get_by_role("link", name=f"← {CLIENT}'s record").click()
        expect(dashboard.get_by_role("heading", level=1)).to_have_text(CLIENT)
        record = dashboard.url
        chart = dashboard.locator("#chart-knee_to_wall-ktw_cm")
        expect(chart.locator("svg").first).to_be_visible()
        expect(chart.locator(".chart-legend")).to_contain_text("Right: dashed line, open circles")
        # One assessment: a point per series, each drawn differently even without colour.
        markers = chart.evaluate(MARKERS)
        assert len(markers) == 4, markers
        assert len(set(markers)) == 4, markers
        # Each line, point and the threshold stands out 3:1 from the plot (WCAG 1.4.11).
        assert chart.evaluate(PLOT_BACKGROUND) == "rgb(255, 255, 255)"
        painted = chart.evaluate(PAINTED)
        assert {colour for colour, _ in painted} == {series.colour for series in SERIES}, painted
        for colour, opacity in painted:
            assert opacity == 1, (colour, opacity)
            assert contrast(colour, "#ffffff") >= 3, (colour, contrast(colour, "#ffffff"))
        shoot(dashboard, "05-client-page")
        dashboard.set_viewport_size(TABLET)
        shoot(dashboard, "06-client-page-tablet", width=TABLET["width"])

        # Printed: no navigation, and each chart's values in a table under it.
        dashboard.emulate_media(media="print")
        expect(dashboard.locator(".site-header nav")).to_be_hidden()
        expect(dashboard.get_by_role("textbox", name="Private note")).to_be_hidden()
        table = chart.locator("table")
        expect(table).to_contain_text("Knee-to-wall distance")
        expect(table).to_be_visible()
        box = table.bounding_box()
        assert box is not None
        assert box["width"] > 300, box
        assert box["height"] > 60, box
        expect(table.get_by_role("row").nth(1)).to_contain_text("12 cm")
        shoot(dashboard, "08-client-page-print")
        dashboard.pdf(path=ARTIFACTS / "client-page.pdf", format="A4")
        dashboard.emulate_media(media="screen")
        # On screen the chart's text alternative is a table anyone can open, with the values.
        expect(table).to_be_hidden()
        chart.get_by_text("Show the values as a table").click()
        expect(table).to_be_visible()
        expect(table.get_by_role("row").nth(1)).to_contain_text("12 cm")

        # The keyboard alone: from the skip link through the main navigation to the clients,
        # a search by email, Ana's page, and a session's room events.
        dashboard.set_viewport_size(LAPTOP)
        dashboard.goto(f"{url}/clinic/")
        dashboard.keyboard.press("Tab")
        expect(dashboard.get_by_role("link", name="Skip to main content")).to_be_focused()
        navigation = dashboard.get_by_role("navigation", name="Main")
        stops = tab_to(dashboard, navigation.get_by_role("link", name="Clients"))
        assert stops[-2:] == ["Sessions", "Clients"], stops
        dashboard.keyboard.press("Enter")
        expect(dashboard.get_by_role("heading", level=1)).to_have_text("Clients")
        # Keys go to a page whose stylesheet has loaded (the focus ring is checked).
        dashboard.wait_for_load_state("load")
        expect(dashboard.locator("#client-list tbody tr")).to_have_count(4)
        shoot(dashboard, "07-client-list")
        dashboard.keyboard.press("Tab")
        expect(dashboard.get_by_role("link", name="Skip to main content")).to_be_focused()
        stops = tab_to(dashboard, dashboard.get_by_label("Search by name or email"))
        assert stops[1:4] == ["Sessions", "Clients", "Plans to approve"], stops
        dashboard.keyboard.type("ana@example")
        dashboard.keyboard.press("Enter")
        expect(dashboard.locator("#client-list tbody tr")).to_have_count(1)
        dashboard.wait_for_load_state("load")
        tab_to(dashboard, dashboard.locator("#client-list").get_by_role("link", name=CLIENT))
        dashboard.keyboard.press("Enter")
        expect(dashboard.get_by_role("heading", level=1)).to_have_text(CLIENT)
        dashboard.wait_for_load_state("load")
        session = dashboard.locator("#appointments details")
        tab_to(dashboard, session.locator("summary"), limit=60)
        dashboard.keyboard.press("Enter")
        expect(session.locator(".room-events")).to_contain_text("Client: joined")
        expect(session.locator(".room-events")).to_contain_text("Clinician: admitted")

        # A tablet and a laptop: nothing wider than the screen.
        for page_url in (f"{url}/clinic/", f"{url}/clinic/clients/", record, plan_review):
            dashboard.goto(page_url)
            for size in (TABLET, LAPTOP):
                dashboard.set_viewport_size(size)
                assert overflowing(dashboard) == [], (page_url, size)

    assert confirmations == [f"End the session for you and {CLIENT}?"]
    plan = Plan.objects.get(assessment__appointment__uuid=room.uuid)
    assert plan.status == PlanStatus.APPROVED
    assert plan.note == "Little and often: ten minutes a day."
    [email] = inbox.wait_for(1, to="ana@example.org")
    assert email["Subject"] == "Your home program from Maya Okafor"
