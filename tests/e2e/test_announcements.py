"""What changes by itself in the call and on the clinician's pages is announced politely, through
live regions, and never takes the focus from where the person is typing (WCAG 4.1.3): a client
waiting (sessions page and room), a new chat message, "reconnecting", a value saved and a new
finding in the assessment panel.

"Announced" is checked as a screen reader sees it: the new text is inside an element that is a
polite live region (aria-live="polite", or role status or log, whose default is polite).
"""

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import LaunchBrowser, Room
from tests.e2e.panel import field, message, type_in
from tests.e2e.test_video_call import (
    ARGS,
    CLIENT,
    SocketProxy,
    expect_connected,
    open_dashboard,
    open_room,
    pass_device_check,
    people,
)

# How the closest live region around an element speaks: "polite", "assertive", or None when
# the element is in no live region (a change there is not announced at all).
POLITENESS = """(element) => {
  const region = element.closest("[aria-live], [role=status], [role=log], [role=alert]");
  if (!region) return null;
  const role = region.getAttribute("role");
  const implicit = { status: "polite", log: "polite" }[role] || "assertive";
  return region.getAttribute("aria-live") || implicit;
}"""


def announced_politely(target: Locator, text: str) -> None:
    expect(target).to_contain_text(text)
    assert target.evaluate(POLITENESS) == "polite", target


def focus_stays(page: Page, where: Locator) -> None:
    expect(where).to_be_focused()


@pytest.mark.e2e
def test_what_changes_by_itself_is_announced_without_moving_the_focus(
    room: Room, launch_browser: LaunchBrowser
) -> None:
    with launch_browser(args=ARGS) as browser:
        client, clinician = people(browser, room)
        dashboard = open_dashboard(clinician, room.server.url)
        search = dashboard.get_by_role("link").first
        search.focus()
        proxy = SocketProxy()
        page = open_room(clinician, room, proxy=proxy)
        pass_device_check(page, "Open the room")
        chat = page.get_by_role("textbox", name="Message")
        chat.focus()
        chat.fill("Hello Ana, I am")

        # Ana comes to the waiting room: told on the sessions page and in the room, politely.
        client_page = open_room(client, room)
        pass_device_check(client_page, "Go to the waiting room")
        announced_politely(dashboard.locator("#feed-status"), f"{CLIENT} is waiting.")
        focus_stays(dashboard, search)
        announced_politely(page.locator("#room-status"), f"{CLIENT} is waiting.")
        focus_stays(page, chat)
        expect(chat).to_have_value("Hello Ana, I am")

        page.get_by_role("button", name=f"Let {CLIENT} in").click()
        expect_connected(client_page, page)
        chat.focus()

        # A chat message from Ana: added to a polite log; Maya's half-typed message stays.
        client_page.get_by_role("textbox", name="Message").fill("Can you hear me?")
        client_page.get_by_role("button", name="Send").click()
        announced_politely(page.locator("#chat-log li").last, "Can you hear me?")
        focus_stays(page, chat)
        expect(chat).to_have_value("Hello Ana, I am")

        # The clinic server's connection drops: "reconnecting" is said, and the focus stays.
        proxy.drop_page_side()
        announced_politely(page.locator("#room-status"), "Reconnecting")
        focus_stays(page, chat)
        expect(page.locator("#room")).to_have_attribute("data-signaling", "open", timeout=20_000)

        # The panel: a saved value and a new finding are said politely while the clinician
        # goes on typing in the field.
        page.get_by_role("button", name="Start the guided assessment").click()
        expect(page.locator("#assessment")).to_have_attribute("data-connection", "open")
        page.locator('.step-link[data-step="knee_to_wall"]').click()
        type_in(page, "knee_to_wall.left.1.ktw_cm", "12")
        # Said once, by the panel's status line (each field's own note is not a live region:
        # a note per keystroke would talk over the clinician).
        expect(message(page, "knee_to_wall.left.1.ktw_cm")).to_have_text("Saved")
        announced_politely(page.locator("#assessment-save-status"), "All changes saved.")
        # Typed, not left: saved after the typing pause with the focus still in the field.
        right = field(page, "knee_to_wall.right.1.ktw_cm")
        right.fill("8")
        expect(right).to_have_attribute("data-state", "saved")
        announced_politely(page.locator("#findings-announce"), "New finding:")
        focus_stays(page, right)
