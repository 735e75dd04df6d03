"""The device check page in headless Chromium: from the client's own page, and what it says
when the camera is blocked, missing, busy or the page is not secure, as the room's device
check does (the same words, from static/js/devices.js). The link in the booking email is
followed in tests/e2e/test_booking_journey.py."""

import json

import pytest
from playwright.sync_api import Browser, expect

from tests.asgi_server import AsgiServer
from tests.conftest import network_address, session_key_for
from tests.e2e.conftest import CHROMIUM_ARGS, LaunchBrowser
from tests.e2e.devices import HEADING, PREVIEW_TRACKS, check_devices
from tests.e2e.test_video_call import CAMERA_FAILS_WITH, launch_args_without_media_permission

PATH = "/check-devices/"
ARGS = [*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"]


def open_check(browser: Browser, url: str, *, init_script: str = ""):
    context = browser.new_context()
    if init_script:
        context.add_init_script(init_script)
    page = context.new_page()
    page.goto(f"{url}{PATH}")
    expect(page.get_by_role("heading", level=1)).to_have_text(HEADING)
    return page


@pytest.mark.e2e
def test_a_client_checks_their_devices_from_their_page(
    asgi_server: AsgiServer, client_record, launch_browser: LaunchBrowser
) -> None:
    session = session_key_for(client_record.user)
    with launch_browser() as browser:
        context = browser.new_context()
        context.add_cookies([{"name": "sessionid", "value": session, "url": asgi_server.url}])
        page = context.new_page()
        page.goto(f"{asgi_server.url}/me/")
        page.get_by_role("link", name="Check your camera, microphone and speakers").click()
        check_devices(page)
        page.get_by_role("link", name="Back to My care").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Hello Ana")


@pytest.mark.e2e
def test_a_blocked_camera_is_explained(asgi_server: AsgiServer, launch_browser) -> None:
    with launch_browser(args=launch_args_without_media_permission()) as browser:
        page = open_check(browser, asgi_server.url)

        error = page.locator("#device-error")
        expect(error).to_have_text(
            "Your browser blocked the camera and microphone for this page. Allow them (click "
            "the camera icon in the address bar, or check the browser's site settings) and "
            "reload the page."
        )
        expect(page.locator("#devices")).to_have_attribute("data-camera", "unavailable")
        expect(page.get_by_text("Your camera and microphone work")).to_be_hidden()
        expect(page.get_by_role("button", name="Try again")).to_be_visible()
        assert page.evaluate(PREVIEW_TRACKS) == []
        # The speakers can be checked all the same.
        page.get_by_role("button", name="Play a test sound").click()
        expect(page.locator("#devices")).to_have_attribute("data-speakers", "played")


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("error", "explanation"),
    [
        (
            "NotFoundError",
            "No camera or microphone was found. Plug one in, or choose another one below.",
        ),
        (
            "NotReadableError",
            "Your camera or microphone is busy: another app or browser tab (for example "
            "another video call) is using it. Close that app, then try again.",
        ),
    ],
    ids=["no-camera", "camera-busy"],
)
def test_a_missing_or_busy_camera_is_explained_and_the_microphone_still_checked(
    asgi_server: AsgiServer, launch_browser: LaunchBrowser, error: str, explanation: str
) -> None:
    with launch_browser(args=ARGS) as browser:
        page = open_check(
            browser, asgi_server.url, init_script=f"({CAMERA_FAILS_WITH})({json.dumps(error)})"
        )

        expect(page.locator("#device-error")).to_have_text(
            f"{explanation} In the session you can still take part with sound only."
        )
        devices = page.locator("#devices")
        expect(devices).to_have_attribute("data-camera", "unavailable")
        expect(devices).to_have_attribute("data-microphone", "heard")
        assert page.evaluate(PREVIEW_TRACKS) == ["audio:live"]


@pytest.mark.e2e
@pytest.mark.parametrize("asgi_server", [{"on_network": True}], indirect=True, ids=["network"])
def test_a_page_without_a_secure_connection_explains_why_there_is_no_camera(
    asgi_server: AsgiServer, launch_browser: LaunchBrowser
) -> None:
    address = network_address()
    assert address is not None
    with launch_browser(args=ARGS) as browser:
        page = open_check(browser, f"http://{address}:{asgi_server.port}")

        assert page.evaluate("() => window.isSecureContext") is False
        expect(page.locator("#device-error")).to_have_text(
            "This page must be opened over a secure connection (an address starting with "
            "https://) or on localhost before the browser lets it use a camera."
        )
        expect(page.locator("#devices")).to_have_attribute("data-camera", "unavailable")
