"""The guided-assessment panel beside a real call between two Chromium contexts (daphne, Redis,
PostgreSQL): starting shows the first test on the client's screen, each field shows where its
value is (saving, saved, refused with the reason, waiting to be sent while offline), the
findings so far follow every save in each window without a reload, and the call with the
panel fits a laptop's and a tablet's screen, every control reachable with the keyboard.

The clinician's assessment socket goes through ``PanelSocket`` (a Playwright route), so that
the test can hold the page's frames (the server has not answered yet) or cut the socket."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from assessments.models import Assessment, ResultValue
from assessments.protocols import PROTOCOLS
from sessions.models import Appointment
from tests.e2e.conftest import LaunchBrowser, Room
from tests.e2e.panel import PanelSocket, field, message, open_step, type_in
from tests.e2e.test_dashboard_journey import tab_to
from tests.e2e.test_video_call import (
    ARGS,
    CLIENT,
    expect_connected,
    expect_video_flowing,
    open_room,
    pass_device_check,
    people,
)

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
LAPTOP = {"width": 1280, "height": 720}
TABLET = {"width": 1024, "height": 768}
WIDE = {"width": 1400, "height": 900}
# WCAG 1.4.10 reflow: 320 CSS px (400 % zoom of a laptop) and a 1280 px window at 200 %.
NARROW = {"width": 320, "height": 640}
ZOOMED = {"width": 640, "height": 360}
# Whatever sticks out of the window on the right, widest first (for a failure's message).
# What sits inside a box that scrolls or clips sideways does not widen the page: left out.
STICKING_OUT = """() => [...document.querySelectorAll("body *")]
  .filter((element) => {
    for (let up = element.parentElement; up && up !== document.body; up = up.parentElement) {
      const sideways = getComputedStyle(up).overflowX;
      if (["auto", "scroll", "hidden", "clip"].includes(sideways)) return false;
    }
    return true;
  })
  .map((element) => [element, element.getBoundingClientRect()])
  .filter(([, box]) => box.right > window.innerWidth + 0.5)
  .sort(([, a], [, b]) => b.right - a.right)
  .slice(0, 8)
  .map(([element, box]) =>
    `${element.tagName.toLowerCase()}#${element.id}.${element.className}`
      + ` "${element.textContent.trim().slice(0, 40)}" right=${Math.round(box.right)}`)"""
PAGE_WIDTH = "() => [document.documentElement.scrollWidth, window.innerWidth]"
# A field of a table scrolled sideways is in the window, right of its row's label, which is
# in view too.
IN_VIEW_BESIDE_ITS_LABEL = """(element) => {
  const box = element.getBoundingClientRect();
  const label = element.closest("tr").querySelector("th").getBoundingClientRect();
  const scroller = element.closest(".table-scroll").getBoundingClientRect();
  return box.right <= window.innerWidth && box.left >= label.right
    && label.left >= scroller.left - 1;
}"""

KTW_LEFT = "knee_to_wall.left.1.ktw_cm"
KTW_LEFT_2 = "knee_to_wall.left.2.ktw_cm"
KTW_RIGHT = "knee_to_wall.right.1.ktw_cm"


def call_with_gate(room: Room, browser) -> tuple[Page, Page, PanelSocket]:
    """The client waits, the clinician (assessment socket gated) lets them in; the call runs."""
    client, clinician = people(browser, room)
    client_page = open_room(client, room)
    pass_device_check(client_page, "Go to the waiting room")
    clinician_page = clinician.new_page()
    gate = PanelSocket(clinician_page)
    clinician_page.goto(room.url)
    pass_device_check(clinician_page, "Open the room")
    clinician_page.get_by_role("button", name=f"Let {CLIENT} in").click()
    expect_connected(client_page, clinician_page)
    expect_video_flowing(client_page, clinician_page)
    return client_page, clinician_page, gate


def expect_prompt(client_page: Page, protocol: str) -> None:
    definition = PROTOCOLS[protocol]
    expect(client_page.locator("#prompt")).to_be_visible()
    expect(client_page.locator("#prompt-title")).to_have_text(definition.name)
    expect(client_page.locator("#prompt-instructions li")).to_have_text(
        list(definition.instructions)
    )


@pytest.mark.e2e
def test_each_field_shows_its_state_and_the_findings_follow_every_save(
    room: Room, launch_browser: LaunchBrowser
) -> None:
    with launch_browser(args=ARGS) as browser:
        client_page, page, gate = call_with_gate(room, browser)
        summary = page.locator("#step-knee_to_wall .lr-summary")
        status = page.locator("#assessment-save-status")
        findings = page.locator("#findings-live")

        # Starting shows the first test to the client at once: no tab clicked.
        page.get_by_role("button", name="Start the guided assessment").click()
        panel = page.locator("#assessment")
        expect(panel).to_have_attribute("data-connection", "open")
        expect(page.locator('.step-link[data-step="aslr"]')).to_have_attribute(
            "aria-current", "step"
        )
        expect_prompt(client_page, "aslr")
        open_step(page, "knee_to_wall")
        expect_prompt(client_page, "knee_to_wall")

        # Saving, then saved: the page's frame is held back until the test lets it through.
        gate.hold()
        type_in(page, KTW_LEFT, "12")
        expect(field(page, KTW_LEFT)).to_have_attribute("data-state", "saving")
        expect(message(page, KTW_LEFT)).to_have_text("Saving…")
        expect(status).to_have_text("Saving 1 change(s)…")
        gate.release()
        expect(field(page, KTW_LEFT)).to_have_attribute("data-state", "saved")
        expect(message(page, KTW_LEFT)).to_have_text("Saved")
        expect(status).to_have_text("All changes saved.")
        expect(summary).to_have_text("Mean knee-to-wall: left 12 cm.")
        expect(findings).to_have_text("Nothing flagged yet.")

        # A second window on the same assessment, on its own page.
        uuid = panel.get_attribute("data-assessment")
        other = page.context.new_page()
        other.goto(f"{room.server.url}/assessments/{uuid}/")
        expect(other.locator("#assessment")).to_have_attribute("data-connection", "open")
        other_findings = other.locator("#findings-live")
        expect(other_findings).to_have_text("Nothing flagged yet.")
        loaded_at = other.evaluate("() => performance.timeOrigin")

        # Refused by the field's rule: the value stays, marked not saved, and counts nowhere.
        type_in(page, KTW_RIGHT, "9.2")
        right = field(page, KTW_RIGHT)
        expect(right).to_have_attribute("data-state", "refused")
        expect(right).to_have_attribute("aria-invalid", "true")
        expect(right).to_have_attribute("aria-describedby", f"m-{KTW_RIGHT}")
        expect(right).to_have_value("9.2")
        expect(message(page, KTW_RIGHT)).to_have_text(
            "Not saved. Use steps of 0.5 cm: 9 or 9.5 cm."
        )
        expect(status).to_have_text("1 value not saved: see the field.")
        expect(panel.locator("#assessment-unsaved")).to_have_text(
            "Knee-to-wall (ankle): Toe-to-wall distance, right, trial 1"
        )
        # As on every form: the title says there is an error.
        expect(page).to_have_title(re.compile(r"^Error: "))
        expect(summary).to_have_text(
            "Mean knee-to-wall: left 12 cm. Not counted: 1 value not saved."
        )
        # Had 9.2 cm been counted, the sides would differ by 2.8 cm: flagged.
        page.wait_for_timeout(500)
        expect(findings).to_have_text("Nothing flagged yet.")
        expect(other_findings).to_have_text("Nothing flagged yet.")
        expect(field(other, KTW_RIGHT)).to_have_value("")
        # Completing would lose it without a word: not until it is corrected or cleared.
        page.get_by_role("button", name="Complete the assessment").click()
        expect(status).to_have_text(
            "Correct or clear the values not saved before completing the assessment."
        )
        # An invalid submit: focus goes to the link to the value not saved.
        expect(panel.locator("#assessment-unsaved a")).to_be_focused()

        # Corrected: saved, valid again, and the findings follow in both windows, live.
        type_in(page, KTW_RIGHT, "9")
        expect(right).to_have_attribute("data-state", "saved")
        expect(right).not_to_have_attribute("aria-invalid", re.compile(".*"))
        expect(message(page, KTW_RIGHT)).to_have_text("Saved")
        expect(status).to_have_text("All changes saved.")
        expect(panel.locator("#assessment-unsaved")).to_be_hidden()
        expect(page).not_to_have_title(re.compile(r"^Error: "))
        expect(summary).to_have_text("Mean knee-to-wall: left 12 cm, right 9 cm; difference 3 cm.")
        for window in (findings, other_findings):
            finding = window.locator('[data-finding="ktw_asymmetry:right"]')
            expect(finding.locator("strong")).to_have_text("Knee-to-wall: right ankle stiffer")
            expect(finding).to_contain_text(
                "From: Knee-to-wall (ankle), left, trial 1: toe-to-wall distance 12 cm; "
                "Knee-to-wall (ankle), right, trial 1: toe-to-wall distance 9 cm."
            )
        # Announced politely; the focus stays where the clinician is typing.
        expect(page.locator("#findings-announce")).to_have_text(
            "New finding: Knee-to-wall: right ankle stiffer."
        )
        expect(page.locator("#findings-announce")).to_have_attribute("aria-live", "polite")
        expect(field(page, KTW_LEFT_2)).to_be_focused()
        assert other.evaluate("() => performance.timeOrigin") == loaded_at

        # Offline: waiting to be sent, then saved when the socket is back.
        gate.off(http=False)
        type_in(page, KTW_LEFT_2, "12.5")
        expect(field(page, KTW_LEFT_2)).to_have_attribute("data-state", "offline")
        expect(message(page, KTW_LEFT_2)).to_have_text("Waiting to be sent")
        expect(status).to_have_text(
            "Offline: 1 change(s) will be saved when the connection is back."
        )
        expect(summary).to_have_text(
            "Mean knee-to-wall: left 12 cm, right 9 cm; difference 3 cm. "
            "Not counted: 1 value not saved."
        )
        # A step opened while the socket is down reaches the client when it is back.
        open_step(page, "faber")
        expect_prompt(client_page, "knee_to_wall")
        gate.on(wait=True)
        expect_prompt(client_page, "faber")
        expect(message(page, KTW_LEFT_2)).to_have_text("Saved")
        expect(status).to_have_text("All changes saved.")
        expect(summary).to_have_text(
            "Mean knee-to-wall: left 12.3 cm, right 9 cm; difference 3.3 cm."
        )
        expect(other_findings.locator('[data-finding="ktw_asymmetry:right"]')).to_contain_text(
            "left 12.3 cm (mean of 2 trials)"
        )

    assessment = Assessment.objects.get(appointment__uuid=room.uuid)
    assert assessment.current_protocol == "faber"
    stored = {row.key: row.value for row in ResultValue.objects.filter(assessment=assessment)}
    assert stored == {KTW_LEFT: 12, KTW_RIGHT: 9, KTW_LEFT_2: 12.5}
    assert Appointment.objects.get(uuid=room.uuid).room_prompt["step"] == "faber"


@pytest.mark.e2e
def test_the_call_with_the_panel_fits_a_laptop_and_a_tablet(
    room: Room, launch_browser: LaunchBrowser
) -> None:
    with launch_browser(args=ARGS) as browser:
        client_page, page, _ = call_with_gate(room, browser)
        page.get_by_role("button", name="Start the guided assessment").click()
        expect(page.locator("#assessment")).to_have_attribute("data-connection", "open")
        type_in(page, "aslr.right.3.slr_angle_deg", "55")
        expect(message(page, "aslr.right.3.slr_angle_deg")).to_have_text("Saved")
        video = page.locator("#remote-video")
        panel = page.locator("#assessment")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        # The window of the report (1,614 px of page in 1,400) too.
        for name, size in (
            ("1280x720", LAPTOP),
            ("1024x768", TABLET),
            ("1400x900", WIDE),
            ("320x640", NARROW),
            ("1280x720-at-200", ZOOMED),
        ):
            for shown in (page, client_page):
                shown.set_viewport_size(size)
            # Every step: those with a field recorded once had notes for screen readers that
            # stuck out of the table's box.
            for protocol in PROTOCOLS:
                open_step(page, protocol)
                width, window = page.evaluate(PAGE_WIDTH)
                assert width <= window, (protocol, size, width, page.evaluate(STICKING_OUT))
            width, window = client_page.evaluate(PAGE_WIDTH)
            assert width <= window, ("client", size, width, client_page.evaluate(STICKING_OUT))
            open_step(page, "aslr")
            # Side by side on a laptop, the panel under the video on a tablet and narrower.
            seen, beside = video.bounding_box(), panel.bounding_box()
            assert seen is not None, ("no video box", size)
            assert beside is not None, ("no panel box", size)
            if size in (TABLET, NARROW, ZOOMED):
                assert beside["y"] >= seen["y"] + seen["height"], (seen, beside)
            else:
                assert beside["x"] >= seen["x"] + seen["width"], (seen, beside)
            # A wide table scrolls in its own box, inside the window.
            box = page.locator("#step-aslr .table-scroll").bounding_box()
            assert box is not None, ("no table box", size)
            assert box["x"] >= 0, box
            assert box["x"] + box["width"] <= size["width"], box
            if size in (LAPTOP, TABLET, NARROW):
                page.screenshot(path=SCREENSHOTS / f"call-with-panel-{name}.png")
                page.screenshot(
                    path=SCREENSHOTS / f"call-with-panel-{name}-full.png", full_page=True
                )
                client_page.screenshot(path=SCREENSHOTS / f"call-client-{name}.png")

        # The keyboard alone: from the call's controls into the panel, through the open step's
        # fields (those scrolled out of the table's box come into view) to completing.
        for size in (LAPTOP, TABLET):
            page.set_viewport_size(size)
            page.locator("#end-button").focus()
            tab_to(page, page.locator('.step-link[data-step="aslr"]'))
            tab_to(page, field(page, "aslr.left.1.aslr_score"))
            last = field(page, "aslr.right.3.slr_angle_deg")
            tab_to(page, last)
            assert last.evaluate(IN_VIEW_BESIDE_ITS_LABEL), size
            # And back: a field scrolled under the row labels comes out from under them.
            first = field(page, "aslr.left.1.slr_angle_deg")
            for _ in range(5):
                page.keyboard.press("Shift+Tab")
            expect(first).to_be_focused()
            assert first.evaluate(IN_VIEW_BESIDE_ITS_LABEL), size
            tab_to(page, page.get_by_role("button", name="Complete the assessment"), limit=80)
