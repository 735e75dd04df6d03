"""The device check page (/check-devices/) in a browser with Chromium's fake camera and
microphone: what a person checking their devices sees work."""

import time
from collections.abc import Callable
from typing import TypeVar

from playwright.sync_api import Page, expect

T = TypeVar("T")

HEADING = "Check your camera, microphone and speakers"
# Page scripts that read what attributes cannot show (page.evaluate is not subject to the CSP).
PREVIEW_TRACKS = """() => {
  const stream = document.getElementById("preview").srcObject;
  return stream ? stream.getTracks().map((track) => `${track.kind}:${track.readyState}`) : [];
}"""
PREVIEW_SIZE = """() => {
  const video = document.getElementById("preview");
  return [video.videoWidth, video.videoHeight];
}"""


def eventually(
    page: Page, probe: Callable[[], T], until: Callable[[T], bool], *, what: str, timeout: float
) -> T:
    """Poll ``probe`` until ``until`` holds; waits through Playwright so its events still run."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if until(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still {value!r} after {timeout:.0f} s")
        page.wait_for_timeout(200)


def check_devices(page: Page) -> None:
    """On the device check page: the camera shows, the microphone is heard, the test sound
    plays to its end; and no room is joined on the way (no WebSocket at all)."""
    sockets: list[str] = []
    page.on("websocket", lambda socket: sockets.append(socket.url))
    expect(page.get_by_role("heading", level=1)).to_have_text(HEADING)
    devices = page.locator("#devices")
    expect(devices).to_have_attribute("data-camera", "on")
    expect(page.locator("#device-error")).to_be_hidden()
    expect(page.get_by_text("Your camera and microphone work in this browser.")).to_be_visible()
    assert sorted(page.evaluate(PREVIEW_TRACKS)) == ["audio:live", "video:live"]
    eventually(
        page,
        lambda: page.evaluate(PREVIEW_SIZE),
        lambda size: size[0] > 0,
        what="size of the camera preview",
        timeout=10,
    )
    expect(page.get_by_label("Camera", exact=True)).not_to_have_value("")
    expect(page.get_by_label("Microphone", exact=True)).not_to_have_value("")
    # Chromium's fake microphone beeps every second: the level moves and the page says so.
    expect(devices).to_have_attribute("data-microphone", "heard")
    expect(page.get_by_text("Your microphone picks up sound.")).to_be_visible()
    page.get_by_role("button", name="Play a test sound").click()
    expect(devices).to_have_attribute("data-speakers", "played")
    expect(page.locator("#speaker-status")).to_contain_text("Did you hear three rising notes?")
    assert sockets == []
