"""The call with two web processes behind a proxy, as a clinic runs it: two daphne processes
on one database and one Redis, and a TCP proxy in front (tests/tcp_proxy.py) that spreads
connections round-robin, without sticky sessions.

- the client's socket on one process and the clinician's on the other: the waiting notice,
  admission, video and chat cross between them through Redis and the database;
- a chat sent while every connection is stalled (bytes stop, nothing closes) shows
  "sending…", the page's heartbeat notices the silence and reconnects, and the message is
  delivered once;
- the process carrying both sockets is killed (SIGKILL) mid-call: the video (peer to peer)
  keeps playing, both pages reconnect through the proxy to the other process behind the
  "reconnecting" banner, and a chat sent in the gap arrives once.

As in the other browser tests, the ORM is used only outside the browser block.
"""

import itertools
import os
import signal
import time

import pytest
from playwright.sync_api import Locator, Page, expect

from assessments.models import Assessment, ResultValue
from sessions.models import Appointment, AppointmentStatus, ChatMessage
from tests.asgi_server import AsgiServer
from tests.e2e.conftest import LaunchBrowser, Room
from tests.e2e.devices import eventually
from tests.e2e.panel import field, open_step, type_in
from tests.e2e.test_video_call import (
    ARGS,
    CLIENT,
    expect_connected,
    expect_remote_video_shown,
    expect_video_flowing,
    frames_decoded,
    pass_device_check,
    people,
)
from tests.tcp_proxy import TcpProxy

# Records every text the status banner and every value data-signaling and data-connection
# take, however briefly: a reconnect through a live process can take well under a second.
WATCH = """() => {
  const room = document.getElementById("room");
  const banner = document.getElementById("room-status");
  window.seen = { status: [], signaling: [], connection: [] };
  const note = (key, value) => {
    if (window.seen[key].at(-1) !== value) window.seen[key].push(value);
  };
  new MutationObserver(() => {
    note("signaling", room.dataset.signaling);
    note("connection", room.dataset.connection);
  }).observe(room, { attributes: true });
  new MutationObserver(() => note("status", banner.textContent)).observe(banner, {
    childList: true, characterData: true, subtree: true,
  });
}"""
KTW_LEFT = "knee_to_wall.left.1.ktw_cm"
KTW_RIGHT = "knee_to_wall.right.1.ktw_cm"
RECONNECTING = "Connection to the clinic server lost. Reconnecting…"
# The page's heartbeat: a ping every 5 s, given up after 15 s of silence; then a reconnect
# with backoff. Generous for a loaded machine.
HEARTBEAT_RECOVERY_S = 35


def room_sockets(proxy: TcpProxy) -> list[int]:
    """Which process each open room socket goes to."""
    return sorted(c.backend for c in proxy.open_websockets() if "/room/" in c.path)


def send_chat(page: Page, text: str) -> None:
    page.locator("#chat-input").fill(text)
    page.locator("#chat-input").press("Enter")


def chat_lines(page: Page, text: str) -> Locator:
    return page.locator("#chat-log li").filter(has_text=text)


def expect_delivered_once(sender: Page, receiver: Page, text: str, *, timeout_s: float) -> None:
    """The sender's line turns from "sending…" into sent (the server's receipt); the other side
    shows it once."""
    line = chat_lines(sender, text)
    expect(line).to_have_count(1)
    expect(line).to_have_attribute("data-state", "sent", timeout=timeout_s * 1000)
    expect(line).not_to_contain_text("sending")
    expect(chat_lines(receiver, text)).to_have_count(1, timeout=timeout_s * 1000)


def start_call(room: Room, client_page: Page, clinician_page: Page) -> None:
    client_page.goto(room.url)
    pass_device_check(client_page, "Go to the waiting room")
    expect(client_page.locator("#room")).to_have_attribute("data-step", "waiting")
    clinician_page.goto(room.url)
    pass_device_check(clinician_page, "Open the room")
    # The client is waiting, told across processes (presence over the Redis channel layer).
    expect(clinician_page.locator("#room-status")).to_have_text(f"{CLIENT} is waiting.")
    clinician_page.get_by_role("button", name=f"Let {CLIENT} in").click()
    expect_connected(client_page, clinician_page)
    expect_video_flowing(client_page, clinician_page)


@pytest.mark.e2e
def test_a_call_between_two_processes(
    proxied_room: Room, proxy: TcpProxy, launch_browser: LaunchBrowser
) -> None:
    room = proxied_room
    client_key, clinician_key = room.client_session.encode(), room.clinician_session.encode()
    panels = itertools.count()

    def steer(head: bytes) -> int | None:
        # The clinician's second window on the assessment: its socket on the first process.
        if b"/ws/assessments/" in head:
            return 1 if next(panels) == 0 else 0
        # Everything else of the client's to the first process, of the clinician's to the second.
        return 0 if client_key in head else 1 if clinician_key in head else None

    proxy.steer = steer
    with launch_browser(args=ARGS) as browser:
        client, clinician = people(browser, room)
        client_page, clinician_page = client.new_page(), clinician.new_page()
        start_call(room, client_page, clinician_page)
        assert room_sockets(proxy) == [0, 1]
        expect_remote_video_shown(client_page)
        expect_remote_video_shown(clinician_page)

        send_chat(client_page, "Hello from the first process")
        expect_delivered_once(
            client_page, clinician_page, "Hello from the first process", timeout_s=10
        )
        send_chat(clinician_page, "Hello from the second")
        expect_delivered_once(clinician_page, client_page, "Hello from the second", timeout_s=10)
        # Still one socket each, on its own process.
        assert room_sockets(proxy) == [0, 1]

        # The guided assessment: the step reaches the client on the other process, and values
        # saved in the call show live in a second window whose socket is on the other process.
        clinician_page.get_by_role("button", name="Start the guided assessment").click()
        panel = clinician_page.locator("#assessment")
        expect(panel).to_have_attribute("data-connection", "open")
        open_step(clinician_page, "knee_to_wall")
        expect(client_page.locator("#prompt")).to_contain_text("Knee-to-wall")
        other = clinician.new_page()
        other.goto(f"{room.server.url}/assessments/{panel.get_attribute('data-assessment')}/")
        expect(other.locator("#assessment")).to_have_attribute("data-connection", "open")
        assert [c.backend for c in proxy.open_websockets() if b"/ws/assessments/" in c.head] == [
            1,
            0,
        ]
        type_in(clinician_page, KTW_LEFT, "12")
        type_in(clinician_page, KTW_RIGHT, "9")
        expect(field(clinician_page, KTW_RIGHT)).to_have_attribute("data-state", "saved")
        expect(field(other, KTW_LEFT)).to_have_value("12")
        expect(other.locator('[data-finding="ktw_asymmetry:right"]')).to_contain_text(
            "right ankle stiffer"
        )

        # "End session for both" from the second process ends the client's page on the first.
        clinician_page.once("dialog", lambda dialog: dialog.accept())
        clinician_page.get_by_role("button", name="End session for both").click()
        for page in (client_page, clinician_page):
            expect(page.locator("#room")).to_have_attribute("data-step", "ended")

    assert list(ChatMessage.objects.values_list("sender_role", "body")) == [
        ("client", "Hello from the first process"),
        ("clinician", "Hello from the second"),
    ]
    assert ChatMessage.objects.filter(client_id__isnull=True).count() == 0
    assert Appointment.objects.get(uuid=room.uuid).status == AppointmentStatus.COMPLETED


@pytest.mark.e2e
def test_a_chat_sent_on_a_stalled_connection_is_delivered_once_after_the_heartbeat(
    proxied_room: Room, proxy: TcpProxy, launch_browser: LaunchBrowser
) -> None:
    room = proxied_room
    with launch_browser(args=ARGS) as browser:
        client, clinician = people(browser, room)
        client_page, clinician_page = client.new_page(), clinician.new_page()
        start_call(room, client_page, clinician_page)
        client_page.evaluate(WATCH)

        assert proxy.stall() > 0
        send_chat(client_page, "Sent while the line is silent")
        line = chat_lines(client_page, "Sent while the line is silent")
        # Shown at once, and not as sent: nothing has confirmed it.
        expect(line).to_have_attribute("data-state", "sending")
        expect(line).to_contain_text("sending…")
        expect(client_page.locator("#chat-input")).to_have_value("")

        expect_delivered_once(
            client_page,
            clinician_page,
            "Sent while the line is silent",
            timeout_s=HEARTBEAT_RECOVERY_S,
        )
        seen = client_page.evaluate("() => window.seen")
        assert RECONNECTING in seen["status"], seen
        assert client_page.locator("#room").get_attribute("data-heartbeat") == "missed"
        # The stalled connections let through what they held: the first copy of the message
        # reaches the server late, and is not kept or shown twice.
        proxy.resume()
        client_page.wait_for_timeout(2000)
        expect(chat_lines(clinician_page, "Sent while the line is silent")).to_have_count(1)
        expect(chat_lines(client_page, "Sent while the line is silent")).to_have_count(1)
        expect_video_flowing(client_page, clinician_page)

    assert list(ChatMessage.objects.values_list("body", flat=True)) == [
        "Sent while the line is silent"
    ]


@pytest.mark.e2e
def test_a_chat_that_cannot_be_sent_says_so_and_can_be_sent_again(
    proxied_room: Room, proxy: TcpProxy, launch_browser: LaunchBrowser
) -> None:
    room = proxied_room
    with launch_browser(args=ARGS) as browser:
        client, clinician = people(browser, room)
        client_page, clinician_page = client.new_page(), clinician.new_page()
        start_call(room, client_page, clinician_page)

        # No process can be reached for a while.
        proxy.refusing = True
        proxy.cut()
        expect(client_page.locator("#room-status")).to_have_text(RECONNECTING)
        send_chat(client_page, "Nobody hears this yet")
        line = chat_lines(client_page, "Nobody hears this yet")
        expect(line).to_have_attribute("data-state", "sending")
        # 30 s without a receipt: the page says it was not sent, and offers to try again.
        expect(line).to_have_attribute("data-state", "failed", timeout=40_000)
        expect(line).to_contain_text("not sent — Retry")
        expect(chat_lines(clinician_page, "Nobody hears this yet")).to_have_count(0)

        proxy.refusing = False
        expect(client_page.locator("#room")).to_have_attribute(
            "data-signaling", "open", timeout=20_000
        )
        # Still not sent: a failed message goes only when the person says so.
        expect(line).to_have_attribute("data-state", "failed")
        line.get_by_role("button", name="Retry").click()
        expect_delivered_once(client_page, clinician_page, "Nobody hears this yet", timeout_s=10)

    assert list(ChatMessage.objects.values_list("body", flat=True)) == ["Nobody hears this yet"]


@pytest.mark.e2e
def test_ending_the_session_on_a_silent_connection_says_it_was_not_ended(
    proxied_room: Room, proxy: TcpProxy, launch_browser: LaunchBrowser
) -> None:
    room = proxied_room
    with launch_browser(args=ARGS) as browser:
        client, clinician = people(browser, room)
        client_page, clinician_page = client.new_page(), clinician.new_page()
        start_call(room, client_page, clinician_page)

        proxy.stall()
        clinician_page.once("dialog", lambda dialog: dialog.accept())
        clinician_page.get_by_role("button", name="End session for both").click()
        # No receipt within 10 s: not shown as ended, and the page says why.
        expect(clinician_page.locator("#room-status")).to_contain_text(
            "The session was not ended", timeout=15_000
        )
        expect(clinician_page.locator("#room")).to_have_attribute("data-step", "call")
        expect(client_page.locator("#room")).to_have_attribute("data-step", "call")

    assert Appointment.objects.get(uuid=room.uuid).status == AppointmentStatus.IN_PROGRESS


@pytest.mark.e2e
def test_killing_the_process_with_both_sockets_keeps_the_call_and_the_chat(
    proxied_room: Room,
    proxy: TcpProxy,
    asgi_server: AsgiServer,
    second_server: AsgiServer,
    launch_browser: LaunchBrowser,
) -> None:
    room = proxied_room
    # Both pages to the first process while it lives; the proxy skips it once it is dead.
    proxy.steer = lambda head: 0
    with launch_browser(args=ARGS) as browser:
        client, clinician = people(browser, room)
        client_page, clinician_page = client.new_page(), clinician.new_page()
        start_call(room, client_page, clinician_page)
        assert room_sockets(proxy) == [0, 0]
        # The guided assessment is open on the clinician's side, its socket on the same process.
        clinician_page.get_by_role("button", name="Start the guided assessment").click()
        panel = clinician_page.locator("#assessment")
        expect(panel).to_have_attribute("data-connection", "open")
        open_step(clinician_page, "knee_to_wall")
        for page in (client_page, clinician_page):
            page.evaluate(WATCH)
        decoded = frames_decoded(clinician_page)

        os.killpg(asgi_server.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        send_chat(client_page, "Sent in the gap")
        # A value typed in the gap waits, then is saved once the panel's socket is back.
        type_in(clinician_page, KTW_LEFT, "11.5")
        expect(field(clinician_page, KTW_LEFT)).to_have_attribute(
            "data-state", "saved", timeout=20_000
        )
        expect(clinician_page.locator("#assessment-save-status")).to_have_text("All changes saved.")

        expect_delivered_once(client_page, clinician_page, "Sent in the gap", timeout_s=20)
        for page in (client_page, clinician_page):
            expect(page.locator("#room")).to_have_attribute("data-signaling", "open")
            seen = page.evaluate("() => window.seen")
            assert RECONNECTING in seen["status"], seen
            assert "closed" in seen["signaling"], seen
            # The call itself never dropped: it does not go through the server.
            assert set(seen["connection"]) <= {"connected"}, seen
        eventually(
            client_page,
            lambda: room_sockets(proxy),
            lambda sockets: sockets == [1, 1],
            what="room sockets on the surviving process",
            timeout=10,
        )
        expect_video_flowing(client_page, clinician_page)
        assert frames_decoded(clinician_page) > decoded
        print(f"back and delivered {time.monotonic() - killed_at:.1f} s after the kill")

        send_chat(clinician_page, "After the crash")
        expect_delivered_once(clinician_page, client_page, "After the crash", timeout_s=10)

    assert list(ChatMessage.objects.values_list("body", flat=True)) == [
        "Sent in the gap",
        "After the crash",
    ]
    assessment = Assessment.objects.get(appointment__uuid=room.uuid)
    stored = {row.key: row.value for row in ResultValue.objects.filter(assessment=assessment)}
    assert stored == {KTW_LEFT: 11.5}
