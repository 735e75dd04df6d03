"""The call keeps its full picture: Chromium's fake camera offers several sizes, and the call
sends 1280×720 on the first join, after a change of camera and after a reload; the other side's
connection indicator shows the size it receives.

Before, the size was asked for only when no camera was chosen: choosing one (a change in the
picker, or the camera remembered across a reload) got Chromium's default, 640×480.
"""

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LaunchBrowser, Room
from tests.e2e.devices import eventually
from tests.e2e.test_video_call import (
    ARGS,
    CLIENT,
    expect_connected,
    expect_video_flowing,
    pass_device_check,
    people,
)

FULL = [1280, 720]
SENT_SIZE = """(id) => {
  const stream = document.getElementById(id).srcObject;
  const track = stream && stream.getVideoTracks()[0];
  if (!track) return null;
  const { width, height } = track.getSettings();
  return [width, height];
}"""


def expect_camera_size(page: Page, video: str) -> None:
    eventually(
        page,
        lambda: page.evaluate(SENT_SIZE, video),
        lambda size: size == FULL,
        what=f"size of the camera in #{video}",
        timeout=10,
    )


def expect_received_size(page: Page) -> None:
    """The indicator shows the size the other side receives (from its inbound video stats)."""
    expect(page.locator("#quality")).to_have_attribute("data-size", "1280×720", timeout=30_000)
    expect(page.locator("#quality")).to_contain_text("receiving 1280×720")


@pytest.mark.e2e
def test_the_call_sends_1280x720_after_a_change_of_camera_and_a_reload(
    room: Room, launch_browser: LaunchBrowser
) -> None:
    with launch_browser(args=ARGS) as browser:
        client, clinician = people(browser, room)
        client_page = client.new_page()
        client_page.goto(room.url)
        expect(client_page.locator("#room")).to_have_attribute("data-step", "device-check")
        expect_camera_size(client_page, "preview")
        # Choosing the camera in the picker (the same one: the fake camera is the only one)
        # opens it again by its id.
        camera = client_page.locator("#camera-select")
        expect(camera.locator("option")).not_to_have_count(0)
        camera.select_option(camera.input_value())
        camera.dispatch_event("change")
        expect_camera_size(client_page, "preview")
        pass_device_check(client_page, "Go to the waiting room")

        clinician_page = clinician.new_page()
        clinician_page.goto(room.url)
        pass_device_check(clinician_page, "Open the room")
        clinician_page.get_by_role("button", name=f"Let {CLIENT} in").click()
        expect_connected(client_page, clinician_page)
        expect_video_flowing(client_page, clinician_page)
        expect_camera_size(client_page, "local-video")
        expect_received_size(clinician_page)
        expect_received_size(client_page)

        client_page.reload()
        expect(client_page.locator("#room")).to_have_attribute("data-step", "call")
        expect_connected(client_page, clinician_page)
        expect_camera_size(client_page, "local-video")
        expect_received_size(clinician_page)
