"""The clinician's day in a real browser: Maya signs in with her password, sees Ana arrive in
the waiting room without reloading, joins and lets her in, records a short assessment,
completes it, and afterwards approves the proposed plan from the queue; Ana gets the program by
email. Screenshots of the main pages go to test-artifacts/screenshots/ (the README shows copies
of them from docs/screenshots/)."""

from pathlib import Path

import pytest
from playwright.sync_api import Dialog, Page, expect

from assessments.models import Plan, PlanStatus
from tests.e2e.conftest import LaunchBrowser, Room
from tests.e2e.test_video_call import (
    ARGS,
    CLIENT,
    expect_connected,
    pass_device_check,
    person,
)
from tests.smtp import Inbox

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORD = "a-long-clinician-password"  # tests.factories.make_clinician


def shoot(page: Page, name: str, *, width: int = 1280) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": width, "height": 900})
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


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
    room: Room, launch_browser: LaunchBrowser, inbox: Inbox
) -> None:
    url = room.server.url
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
        expect(
            dashboard.get_by_text("Answers: Right ankle dorsiflexion restricted").first
        ).to_be_visible()
        dashboard.get_by_label("Note to the client").fill("Little and often: ten minutes a day.")
        dashboard.get_by_role("button", name="Save the note").click()
        expect(dashboard.get_by_text("Note saved.")).to_be_visible()
        shoot(dashboard, "04-plan-review")
        dashboard.get_by_role("button", name=f"Approve and send to {CLIENT}").click()
        expect(dashboard.locator(".message-success")).to_contain_text(
            f"Approved: {CLIENT} gets the program by email"
        )

        # The client's page: assessments, findings, program, charts.
        dashboard.get_by_role("link", name=f"← {CLIENT}'s record").click()
        expect(dashboard.get_by_role("heading", level=1)).to_have_text(CLIENT)
        expect(dashboard.locator("#chart-knee_to_wall-ktw_cm svg")).to_be_visible()
        shoot(dashboard, "05-client-page")
        dashboard.set_viewport_size({"width": 820, "height": 1180})  # a tablet
        shoot(dashboard, "06-client-page-tablet", width=820)
        # Keyboard: the skip link comes first and leads to the content.
        dashboard.keyboard.press("Tab")
        expect(dashboard.get_by_role("link", name="Skip to main content")).to_be_focused()

    assert confirmations == [f"End the session for you and {CLIENT}?"]
    plan = Plan.objects.get(assessment__appointment__uuid=room.uuid)
    assert plan.status == PlanStatus.APPROVED
    assert plan.note == "Little and often: ten minutes a day."
    [email] = inbox.wait_for(1, to="ana@example.org")
    assert email["Subject"] == "Your home program from Maya Okafor"
