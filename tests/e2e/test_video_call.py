"""The live video session in real browsers: device check, waiting room, admission, a
peer-to-peer call that survives a dropped signaling socket, a reload and a second tab, and
the end of the session.

Each person has their own browser context (cookies, storage) in one headless Chromium with a
fake camera and microphone; the server is daphne (``asgi_server``) with this worker's Redis as
the channel layer. People are signed in with session cookies made before the browser starts,
and, as in the other end-to-end tests, the ORM is used before and after the browser block,
never inside it (see tests/e2e/conftest.py).

The pages' Content-Security-Policy forbids eval, so the tests wait with locators on the
attributes of the #room element (``data-step``, ``data-signaling``, ``data-connection``,
``data-frames-decoded``) rather than with ``wait_for_function``; ``page.evaluate`` (which the
policy does not restrict) only reads what attributes cannot show, such as media tracks.
"""

import datetime as dt
import json
import re
import time
import zoneinfo
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Dialog,
    Page,
    WebSocket,
    WebSocketRoute,
    expect,
)

from sessions.models import (
    Appointment,
    AppointmentStatus,
    ChatMessage,
    ParticipantRole,
    RoomEvent,
    RoomEventKind,
)
from tests.conftest import network_address
from tests.e2e.conftest import CHROMIUM_ARGS, LaunchBrowser, Room
from tests.e2e.devices import eventually

CLIENT = "Ana Silva"  # the conftest personas
CLINICIAN = "Maya Okafor"
# The remote video plays without anyone clicking first, as it does after a real click.
ARGS = [*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"]
# ICE, DTLS and the first decoded frames on a loaded two-CPU machine.
CALL_TIMEOUT_MS = 30_000
# The #room element's data-frames-decoded is refreshed from getStats every second.
VIDEO_TIMEOUT_S = 20.0
# Page scripts that read what attributes cannot show (page.evaluate is not subject to the CSP).
PREVIEW_TRACKS = """() => {
  const stream = document.getElementById("preview").srcObject;
  return stream ? stream.getTracks().map((track) => `${track.kind}:${track.readyState}`) : [];
}"""
LOCAL_TRACKS = """() => {
  const stream = document.getElementById("local-video").srcObject;
  return stream ? stream.getTracks().map((track) => `${track.kind}:${track.readyState}`) : [];
}"""
VIDEO_SIZE = """(id) => {
  const video = document.getElementById(id);
  return [video.videoWidth, video.videoHeight];
}"""
# Records every value #room's data-signaling takes from now on, however briefly.
WATCH_SIGNALING = """() => {
  const room = document.getElementById("room");
  window.signalingSeen = [room.dataset.signaling];
  new MutationObserver((records) => {
    for (const record of records) {
      const value = record.target.dataset.signaling;
      if (window.signalingSeen.at(-1) !== value) window.signalingSeen.push(value);
    }
  }).observe(room, { attributes: true, attributeFilter: ["data-signaling"] });
}"""

# Init scripts: they run in every page of a context before the page's own scripts.
# Keeps every RTCPeerConnection the page makes, so that the test can read its senders and stats.
KEEP_PEER_CONNECTIONS = """(() => {
  const Native = window.RTCPeerConnection;
  window.peerConnections = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      window.peerConnections.push(this);
    }
  };
})();"""
# The page's tab is in the background (as when another tab is in front) until ``inFront()``,
# and every tone it starts is recorded with the state of its audio context: only a "running"
# context is heard. Nothing here may be called with page.evaluate before the tone is due:
# Playwright evaluates with a user gesture, which would unlock the sound by itself.
BACKGROUND_TAB_WITH_TONES = """(() => {
  let hidden = true;
  Object.defineProperty(Document.prototype, "hidden", { configurable: true, get: () => hidden });
  Object.defineProperty(Document.prototype, "visibilityState", {
    configurable: true,
    get: () => (hidden ? "hidden" : "visible"),
  });
  window.inFront = () => {
    hidden = false;
    document.dispatchEvent(new Event("visibilitychange"));
  };
  window.tones = [];
  const start = AudioScheduledSourceNode.prototype.start;
  AudioScheduledSourceNode.prototype.start = function (...args) {
    window.tones.push(this.context.state);
    return start.apply(this, args);
  };
})();"""
# getUserMedia fails for the camera as it does in browsers: with no camera (NotFoundError), or
# with one another program holds (NotReadableError); the microphone still works.
CAMERA_FAILS_WITH = """(name) => {
  const getUserMedia = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = (constraints) =>
    constraints && constraints.video
      ? Promise.reject(new DOMException("The camera cannot be used", name))
      : getUserMedia(constraints);
}"""
# Page scripts that read the kept peer connections.
SENDER_TRACKS_ENABLED = """() => {
  const pc = window.peerConnections.find((pc) => pc.connectionState !== "closed");
  const tracks = pc.getSenders().map((sender) => sender.track);
  return Object.fromEntries(tracks.map((track) => [track.kind, track.enabled]));
}"""
AUDIO_ENERGY_RECEIVED = """async () => {
  const pc = window.peerConnections.find((pc) => pc.connectionState !== "closed");
  let energy = 0;
  (await pc.getStats()).forEach((report) => {
    if (report.type === "inbound-rtp" && report.kind === "audio") {
      energy += report.totalAudioEnergy || 0;
    }
  });
  return energy;
}"""
ROUND_TRIP_MS = """async () => {
  const pc = window.peerConnections.find((pc) => pc.connectionState !== "closed");
  let rtt = null;
  (await pc.getStats()).forEach((report) => {
    if (report.type === "candidate-pair" && report.nominated && report.state === "succeeded") {
      rtt = report.currentRoundTripTime ?? rtt;
    }
  });
  return rtt === null ? null : Math.round(rtt * 1000);
}"""
# How bright the remote video looks (0 is black), from a downscaled copy of its current frame.
REMOTE_BRIGHTNESS = """() => {
  const video = document.getElementById("remote-video");
  const canvas = document.createElement("canvas");
  canvas.width = 64;
  canvas.height = 36;
  const context = canvas.getContext("2d");
  context.drawImage(video, 0, 0, canvas.width, canvas.height);
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let sum = 0;
  for (let i = 0; i < pixels.length; i += 4) sum += (pixels[i] + pixels[i + 1] + pixels[i + 2]) / 3;
  return sum / (pixels.length / 4);
}"""
ICE_USERNAME_FRAGMENTS = """() => {
  const pc = window.peerConnections.find((pc) => pc.connectionState !== "closed");
  const fragment = (description) => description && description.sdp.match(/a=ice-ufrag:(\\S+)/)[1];
  return [fragment(pc.currentLocalDescription), fragment(pc.currentRemoteDescription)];
}"""
# What the browser reports when the network path of a call breaks (the ICE agent's checks all
# failed): the page's peer connection says "failed" once, then reports its real state again.
ICE_FAILS = """() => {
  const pc = window.peerConnections.find((pc) => pc.connectionState !== "closed");
  Object.defineProperty(pc, "iceConnectionState", { configurable: true, get: () => "failed" });
  pc.dispatchEvent(new Event("iceconnectionstatechange"));
  delete pc.iceConnectionState;
}"""

ROOM_ATTRIBUTES = ("role", "step", "signaling", "connection", "frames-decoded")

# --- Browser helpers -------------------------------------------------------------------------


def person(browser: Browser, *, url: str, session: str, name: str) -> BrowserContext:
    """A browser context signed in with ``session``; its console goes to the test's output."""
    context = browser.new_context()
    context.add_cookies([{"name": "sessionid", "value": session, "url": url}])
    context.on("console", lambda message: print(f"[{name}] {message.type}: {message.text}"))
    context.on("weberror", lambda error: print(f"[{name}] page error: {error.error}"))
    context.on("page", lambda page: page.on("websocket", lambda ws: log_frames(name, ws)))
    return context


def people(browser: Browser, room: Room) -> tuple[BrowserContext, BrowserContext]:
    """The client's and the clinician's browser contexts, each signed in for the room."""
    return (
        person(browser, url=room.server.url, session=room.client_session, name="client"),
        person(browser, url=room.server.url, session=room.clinician_session, name="clinician"),
    )


def log_frames(name: str, socket: WebSocket) -> None:
    """Signaling frames in the test's output (shown when it fails), without the SDP."""
    path = urlsplit(socket.url).path

    def log(direction: str, payload: str | bytes) -> None:
        try:
            frame = json.loads(payload)
            summary = {
                k: v for k, v in frame.items() if k not in {"sdp", "candidate", "iceServers"}
            }
        except ValueError:
            summary = payload[:80]
        print(f"[{name} {dt.datetime.now(dt.UTC):%H:%M:%S.%f} {path[-12:]}] {direction} {summary}")

    print(f"[{name}] socket opened: {path}")
    socket.on("framesent", lambda payload: log("->", payload))
    socket.on("framereceived", lambda payload: log("<-", payload))
    socket.on("close", lambda _: print(f"[{name}] socket closed: {path}"))


def frames_decoded(page: Page) -> int:
    return int(page.locator("#room").get_attribute("data-frames-decoded") or "0")


def expect_video_flowing(*pages: Page, timeout: float = VIDEO_TIMEOUT_S) -> None:
    """Each page's count of decoded remote video frames rises twice in a row, so video is
    arriving now (a count that drops, when a new peer connection starts over, starts again)."""
    rises = dict.fromkeys(pages, 0)
    last = {page: frames_decoded(page) for page in pages}
    deadline = time.monotonic() + timeout
    while any(count < 2 for count in rises.values()):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"video frames are not being decoded: {[(last[p], rises[p]) for p in pages]}"
            )
        pages[0].wait_for_timeout(250)
        for page in pages:
            now = frames_decoded(page)
            if now > last[page]:
                rises[page] += 1
            elif now < last[page]:
                rises[page] = 0
            last[page] = now


def room_attributes(page: Page) -> dict[str, str | None]:
    room = page.locator("#room")
    state = {key: room.get_attribute(f"data-{key}") for key in ROOM_ATTRIBUTES}
    state["status"] = page.locator("#room-status").text_content()
    return state


def expect_connected(*pages: Page) -> None:
    try:
        for page in pages:
            expect(page.locator("#room")).to_have_attribute(
                "data-connection", "connected", timeout=CALL_TIMEOUT_MS
            )
    except AssertionError:
        for page in pages:
            print(f"{page.url}: {room_attributes(page)}")
        raise


def expect_remote_video_shown(page: Page) -> None:
    eventually(
        page,
        lambda: page.evaluate(VIDEO_SIZE, "remote-video"),
        lambda size: size[0] > 0 and size[1] > 0,
        what="size of the remote video",
        timeout=VIDEO_TIMEOUT_S,
    )


def pass_device_check(page: Page, button: str) -> None:
    """The camera preview plays and the microphone is heard; then ``button`` is clicked."""
    expect(page.locator("#room")).to_have_attribute("data-step", "device-check")
    expect(page.get_by_role("heading", name="Check your camera and microphone")).to_be_visible()
    join = page.get_by_role("button", name=button)
    expect(join).to_be_enabled()
    expect(page.locator("#device-error")).to_be_hidden()
    assert sorted(page.evaluate(PREVIEW_TRACKS)) == ["audio:live", "video:live"]
    eventually(
        page,
        lambda: page.evaluate(VIDEO_SIZE, "preview"),
        lambda size: size[0] > 0,
        what="size of the camera preview",
        timeout=10,
    )
    expect(page.locator("#camera-select option")).not_to_have_count(0)
    expect(page.locator("#microphone-select option")).not_to_have_count(0)
    # Chromium's fake microphone beeps; the level meter shows it.
    eventually(
        page,
        lambda: float(page.locator("#mic-level").get_attribute("value") or "0"),
        lambda level: level > 0,
        what="microphone level",
        timeout=10,
    )
    join.click()


class SocketProxy:
    """Passes a page's room WebSockets through Playwright, so that the test can cut them."""

    PATTERN = re.compile(r"/ws/appointments/[0-9a-f-]+/room/")

    def __init__(self) -> None:
        self.routes: list[WebSocketRoute] = []

    def __call__(self, route: WebSocketRoute) -> None:
        route.connect_to_server()  # frames flow both ways unchanged
        self.routes.append(route)

    def drop_page_side(self) -> None:
        """What the page sees when its network drops: the socket closes without a close
        frame from the server (1006), and the server is not told."""
        self.routes[-1].close(code=1006, reason="")


# --- Steps -----------------------------------------------------------------------------------


def open_dashboard(clinician: BrowserContext, url: str) -> Page:
    dashboard = clinician.new_page()
    dashboard.goto(f"{url}/clinic/")
    expect(dashboard.get_by_role("heading", level=1)).to_have_text("Upcoming sessions")
    # Live: the page's feed socket is open.
    expect(dashboard.locator("#sessions")).to_have_attribute("data-live", "true")
    return dashboard


def open_room(context: BrowserContext, room: Room, *, proxy: SocketProxy | None = None) -> Page:
    page = context.new_page()
    if proxy is not None:
        page.route_web_socket(SocketProxy.PATTERN, proxy)
    page.goto(room.url)
    return page


def start_call(room: Room, client: BrowserContext, clinician: BrowserContext) -> tuple[Page, Page]:
    """The client waits, the clinician lets them in, and the call connects."""
    client_page = open_room(client, room)
    pass_device_check(client_page, "Go to the waiting room")
    expect(client_page.locator("#room")).to_have_attribute("data-step", "waiting")
    clinician_page = open_room(clinician, room)
    pass_device_check(clinician_page, "Open the room")
    clinician_page.get_by_role("button", name=f"Let {CLIENT} in").click()
    expect_connected(client_page, clinician_page)
    expect_video_flowing(client_page, clinician_page)
    return client_page, clinician_page


def room_events(uuid: str) -> list[tuple[str, str]]:
    return list(
        RoomEvent.objects.filter(appointment__uuid=uuid)
        .order_by("at", "id")
        .values_list("role", "kind")
    )


# --- Tests -----------------------------------------------------------------------------------


@pytest.mark.e2e
def test_a_full_call_from_the_waiting_room_to_the_end(
    room: Room, launch_browser: LaunchBrowser
) -> None:
    url = room.server.url
    with launch_browser(args=ARGS) as browser:
        client, clinician = people(browser, room)

        # Maya has her sessions page open.
        dashboard = open_dashboard(clinician, url)
        row = dashboard.locator(f'tr[data-appointment="{room.uuid}"]')
        expect(row).to_have_attribute("data-status", "confirmed")
        expect(row.locator("td.status")).to_have_text("Confirmed")
        dashboard_loaded_at = dashboard.evaluate("() => performance.timeOrigin")

        # Ana opens the join link, checks her camera and microphone and goes in.
        proxy = SocketProxy()
        client_page = open_room(client, room, proxy=proxy)
        expect(client_page.get_by_role("heading", level=1)).to_have_text(
            f"Virtual assessment with {CLINICIAN}"
        )
        pass_device_check(client_page, "Go to the waiting room")
        expect(client_page.locator("#room")).to_have_attribute("data-step", "waiting")
        expect(client_page.locator("#waiting")).to_contain_text(
            f"{CLINICIAN} will let you in shortly"
        )
        expect(client_page.locator("#room")).to_have_attribute("data-signaling", "open")

        # Maya's sessions page shows it live, without being reloaded.
        expect(row).to_have_attribute("data-status", "waiting")
        expect(row.locator("td.status")).to_have_text("Client waiting")
        expect(dashboard.locator("#feed-status")).to_have_text(f"{CLIENT} is waiting.")
        assert dashboard.evaluate("() => performance.timeOrigin") == dashboard_loaded_at

        # She opens the room from that row (in another tab: the sessions page stays open).
        link = row.get_by_role("link", name=f"Open the session with {CLIENT}")
        assert link.get_attribute("href") == room.path
        clinician_page = open_room(clinician, room)
        pass_device_check(clinician_page, "Open the room")
        expect(clinician_page.locator("#room")).to_have_attribute("data-step", "call")
        admit_panel = clinician_page.locator("#admit-panel")
        expect(admit_panel).to_be_visible()
        expect(admit_panel.get_by_role("heading")).to_have_text(f"{CLIENT} is waiting")
        expect(clinician_page.locator("#room-status")).to_have_text(f"{CLIENT} is waiting.")
        admit_panel.get_by_role("button", name=f"Let {CLIENT} in").click()

        # Both are in the call, peer to peer, and each sees the other's video.
        expect(admit_panel).to_be_hidden()
        expect(client_page.locator("#room")).to_have_attribute("data-step", "call")
        expect_connected(client_page, clinician_page)
        expect_video_flowing(client_page, clinician_page)
        expect_remote_video_shown(client_page)
        expect_remote_video_shown(clinician_page)
        expect(row.locator("td.status")).to_have_text("In progress")

        # Chat both ways; the sender's own copy is the server's confirmation.
        client_page.locator("#chat-input").fill("Hello, can you hear me?")
        client_page.locator("#chat-input").press("Enter")
        for page in (client_page, clinician_page):
            line = page.locator("#chat-log li").filter(has_text="Hello, can you hear me?")
            expect(line.locator(".chat-name")).to_have_text(CLIENT)
        expect(client_page.locator("#chat-input")).to_have_value("")
        clinician_page.locator("#chat-input").fill("Loud and clear.")
        clinician_page.get_by_role("button", name="Send").click()
        for page in (client_page, clinician_page):
            line = page.locator("#chat-log li").filter(has_text="Loud and clear.")
            expect(line.locator(".chat-name")).to_have_text(CLINICIAN)

        # Ana's signaling socket drops: the page reconnects by itself, the call goes on.
        client_page.evaluate(WATCH_SIGNALING)
        proxy.drop_page_side()
        eventually(
            client_page,
            lambda: len(proxy.routes),
            lambda count: count == 2,
            what="room sockets the client page opened",
            timeout=15,
        )
        expect(client_page.locator("#room")).to_have_attribute("data-signaling", "open")
        seen = client_page.evaluate("() => window.signalingSeen")
        assert seen[:3] == ["open", "closed", "connecting"], seen
        assert seen[-1] == "open", seen
        expect(client_page.locator("#room")).to_have_attribute("data-step", "call")
        expect(client_page.locator("#room-status")).to_have_text("")
        expect_connected(client_page, clinician_page)
        expect_video_flowing(client_page, clinician_page)

        # Maya ends the session for both.
        confirmations: list[str] = []

        def accept(dialog: Dialog) -> None:
            confirmations.append(dialog.message)
            dialog.accept()

        clinician_page.once("dialog", accept)
        clinician_page.get_by_role("button", name="End session for both").click()
        for page in (client_page, clinician_page):
            expect(page.locator("#room")).to_have_attribute("data-step", "ended")
            expect(page.locator("#ended").get_by_role("heading")).to_have_text(
                "The session has ended"
            )
            expect(page.locator("#call")).to_be_hidden()
        assert confirmations == [f"End the session for you and {CLIENT}?"]
        expect(row.locator("td.status")).to_have_text("Completed")
        assert dashboard.evaluate("() => performance.timeOrigin") == dashboard_loaded_at

    appointment = Appointment.objects.get(uuid=room.uuid)
    assert appointment.status == AppointmentStatus.COMPLETED
    assert appointment.admitted_at is not None
    assert appointment.ended_at is not None
    assert appointment.admitted_at < appointment.ended_at
    chat = list(appointment.chat_messages.values_list("sender__full_name", "sender_role", "body"))
    assert chat == [
        (CLIENT, ParticipantRole.CLIENT, "Hello, can you hear me?"),
        (CLINICIAN, ParticipantRole.CLINICIAN, "Loud and clear."),
    ]
    events = room_events(room.uuid)
    client_joined = (ParticipantRole.CLIENT, RoomEventKind.JOINED)
    clinician_joined = (ParticipantRole.CLINICIAN, RoomEventKind.JOINED)
    admitted = (ParticipantRole.CLINICIAN, RoomEventKind.ADMITTED)
    ended = (ParticipantRole.CLINICIAN, RoomEventKind.ENDED)
    # Ana joined twice (the second time after her socket dropped), everything else once.
    assert events.count(client_joined) == 2, events
    for once in (clinician_joined, admitted, ended):
        assert events.count(once) == 1, events
    assert events.index(client_joined) < events.index(admitted), events
    assert events.index(clinician_joined) < events.index(admitted), events
    connected = [index for index, (_, kind) in enumerate(events) if kind == RoomEventKind.CONNECTED]
    assert {events[index][0] for index in connected} == set(ParticipantRole), events
    assert events.index(admitted) < min(connected), events
    assert max(connected) < events.index(ended), events
    assert ChatMessage.objects.count() == 2


@pytest.mark.e2e
def test_reloading_during_the_call_rejoins_it_without_the_device_check(
    room: Room, launch_browser: LaunchBrowser
) -> None:
    with launch_browser(args=ARGS) as browser:
        client, clinician = people(browser, room)
        client_page, clinician_page = start_call(room, client, clinician)

        devices = [client_page.locator(f"#{kind}-select") for kind in ("camera", "microphone")]
        chosen = [select.input_value() for select in devices]
        room_sockets: list[str] = []
        client_page.on(
            "websocket",
            lambda socket: room_sockets.append(socket.url) if "/room/" in socket.url else None,
        )
        client_page.reload()
        # Straight back into the call: no device check to pass, no waiting room.
        expect(client_page.locator("#room")).to_have_attribute("data-step", "call")
        expect(client_page.locator("#device-check")).to_be_hidden()
        expect(client_page.locator("#waiting")).to_be_hidden()
        expect(clinician_page.locator("#admit-panel")).to_be_hidden()
        expect_connected(client_page, clinician_page)
        expect_video_flowing(client_page, clinician_page)
        expect_remote_video_shown(client_page)
        assert len(room_sockets) == 1, room_sockets
        # With the camera and microphone chosen before the reload.
        assert sorted(client_page.evaluate(LOCAL_TRACKS)) == ["audio:live", "video:live"]
        assert [select.input_value() for select in devices] == chosen

    assert Appointment.objects.get(uuid=room.uuid).status == AppointmentStatus.IN_PROGRESS
    events = room_events(room.uuid)
    assert events.count((ParticipantRole.CLIENT, RoomEventKind.JOINED)) == 2, events
    assert events.count((ParticipantRole.CLIENT, RoomEventKind.CONNECTED)) == 2, events


@pytest.mark.e2e
def test_chat_times_are_on_the_profiles_clock_whatever_the_browsers(
    room: Room, clinician, launch_browser: LaunchBrowser
) -> None:
    # Maya's profile says New York; her laptop's clock is still on Tokyo time.
    clinician.user.time_zone = "America/New_York"
    clinician.user.save(update_fields=["time_zone"])
    with launch_browser(args=ARGS) as browser:
        context = browser.new_context(timezone_id="Asia/Tokyo")
        context.add_cookies(
            [{"name": "sessionid", "value": room.clinician_session, "url": room.server.url}]
        )
        page = open_room(context, room)
        assert page.evaluate("() => Intl.DateTimeFormat().resolvedOptions().timeZone") == (
            "Asia/Tokyo"
        )
        pass_device_check(page, "Open the room")
        expect(page.locator("#room")).to_have_attribute("data-step", "call")
        page.locator("#chat-input").fill("Set up the camera side-on, please.")
        page.locator("#chat-input").press("Enter")
        line = page.locator("#chat-log li").filter(has_text="Set up the camera side-on")
        expect(line).to_have_count(1)
        # Shown at once as "sending…", with its time once the server has kept it.
        expect(line).to_have_attribute("data-state", "sent")
        live = line.locator("time").text_content()
        # Loaded again, the page shows the kept message as the server writes it.
        page.reload()
        expect(page.locator("#room")).to_have_attribute("data-step", "call")
        kept = line.locator("time").text_content()
        # And the room's header gives the appointment on the same clock.
        header = page.locator("#room .meta").first.text_content()

    [message] = ChatMessage.objects.filter(appointment__uuid=room.uuid)
    new_york = message.sent_at.astimezone(zoneinfo.ZoneInfo("America/New_York"))
    assert (live, kept) == (f"{new_york:%H:%M}", f"{new_york:%H:%M}")
    assert "(America/New_York)" in header


@pytest.mark.e2e
def test_a_second_tab_takes_over_the_call_and_the_first_one_stops(
    room: Room, launch_browser: LaunchBrowser
) -> None:
    with launch_browser(args=ARGS) as browser:
        client, clinician = people(browser, room)
        first_tab, clinician_page = start_call(room, client, clinician)
        first_tab_sockets: list[str] = []
        first_tab.on("websocket", lambda socket: first_tab_sockets.append(socket.url))

        # Ana opens the link again in another tab (its own session storage: a device check).
        second_tab = open_room(client, room)
        pass_device_check(second_tab, "Go to the waiting room")

        expect(first_tab.locator("#room")).to_have_attribute("data-step", "stopped")
        stopped = first_tab.locator("#stopped")
        expect(stopped).to_be_visible()
        expect(stopped.get_by_role("heading")).to_have_text(
            "This window is no longer in the session"
        )
        expect(first_tab.locator("#stopped-reason")).to_have_text(
            "This session was opened in another tab or window. Continue there."
        )
        expect(first_tab.locator("#call")).to_be_hidden()

        # The second tab is in the call (Ana was let in already), with Maya.
        expect(second_tab.locator("#room")).to_have_attribute("data-step", "call")
        expect_connected(second_tab, clinician_page)
        expect_video_flowing(second_tab, clinician_page)
        expect_remote_video_shown(second_tab)

        # The first tab let go of the camera and does not try to get back in (its first
        # reconnection would have come within a second).
        assert sorted(first_tab.evaluate(LOCAL_TRACKS)) == ["audio:ended", "video:ended"]
        first_tab.wait_for_timeout(3000)
        assert first_tab_sockets == []
        expect(first_tab.locator("#room")).to_have_attribute("data-signaling", "closed")
        expect(first_tab.locator("#room")).to_have_attribute("data-step", "stopped")
        expect(second_tab.locator("#room")).to_have_attribute("data-signaling", "open")
        expect(second_tab.locator("#room")).to_have_attribute("data-connection", "connected")
        # Closing the browser below is everyone leaving.
        before_closing = dt.datetime.now(dt.UTC)

    events = room_events(room.uuid)
    assert events.count((ParticipantRole.CLIENT, RoomEventKind.JOINED)) == 2, events
    # The seat passed from one tab to the other: Ana did not leave the room meanwhile.
    left = RoomEvent.objects.filter(
        appointment__uuid=room.uuid, role=ParticipantRole.CLIENT, kind=RoomEventKind.LEFT
    )
    assert not left.filter(at__lt=before_closing).exists(), events


def launch_args_without_media_permission() -> list[str]:
    # Without --use-fake-ui-for-media-stream nothing answers Chromium's permission prompt;
    # headless Chromium under Playwright then denies getUserMedia at once (NotAllowedError,
    # checked by hand), and --deny-permission-prompts makes that explicit.
    return [
        *(arg for arg in ARGS if arg != "--use-fake-ui-for-media-stream"),
        "--deny-permission-prompts",
    ]


@pytest.mark.e2e
def test_a_blocked_camera_is_explained(room: Room, launch_browser: LaunchBrowser) -> None:
    url = room.server.url
    with launch_browser(args=launch_args_without_media_permission()) as browser:
        client = person(browser, url=url, session=room.client_session, name="client")
        page = open_room(client, room)

        error = page.locator("#device-error")
        expect(error).to_be_visible()
        expect(error).to_have_text(
            "Your browser blocked the camera and microphone for this page. Allow them (click "
            "the camera icon in the address bar, or check the browser's site settings) and "
            "reload the page."
        )
        expect(page.get_by_role("button", name="Go to the waiting room")).to_be_disabled()
        expect(page.locator("#room")).to_have_attribute("data-step", "device-check")
        assert page.evaluate(PREVIEW_TRACKS) == []


@pytest.mark.e2e
@pytest.mark.parametrize("asgi_server", [{"on_network": True}], indirect=True, ids=["network"])
def test_a_page_without_a_secure_connection_explains_why_there_is_no_camera(
    room: Room, launch_browser: LaunchBrowser
) -> None:
    # Browsers only give pages a camera in a secure context: https, or http on localhost. The
    # server also answers on this machine's network address (the asgi_server option; the
    # test is skipped, saying so, on a machine without one), over plain http.
    address = network_address()
    assert address is not None
    url = f"http://{address}:{room.server.port}"
    with launch_browser(args=ARGS) as browser:
        client = person(browser, url=url, session=room.client_session, name="client")
        page = client.new_page()
        page.goto(f"{url}{room.path}")

        expect(page.get_by_role("heading", level=1)).to_have_text(
            f"Virtual assessment with {CLINICIAN}"
        )
        assert page.evaluate("() => window.isSecureContext") is False
        error = page.locator("#device-error")
        expect(error).to_be_visible()
        expect(error).to_have_text(
            "This page must be opened over a secure connection (an address starting with "
            "https://) or on localhost before the browser lets it use a camera."
        )
        expect(page.get_by_role("button", name="Go to the waiting room")).to_be_disabled()
        expect(page.locator("#room")).to_have_attribute("data-step", "device-check")


@pytest.mark.e2e
def test_a_waiting_client_is_announced_in_the_clinicians_background_tabs(
    room: Room, launch_browser: LaunchBrowser
) -> None:
    # The browser's own autoplay policy (not ARGS): sound is only allowed after the clinician
    # has used the page, as in a browser on her desk.
    url = room.server.url
    with launch_browser() as browser:
        client, clinician = people(browser, room)
        clinician.add_init_script(BACKGROUND_TAB_WITH_TONES)

        # Maya's sessions page offers to turn sound on, since the browser holds it back.
        dashboard = open_dashboard(clinician, url)
        sound_on = dashboard.get_by_role("button", name="Turn on sound alerts")
        expect(sound_on).to_be_visible()
        sound_on.click()
        expect(sound_on).to_be_hidden()
        # She also opens the room before Ana comes; both tabs then go to the background.
        clinician_page = open_room(clinician, room)
        pass_device_check(clinician_page, "Open the room")
        expect(clinician_page.locator("#room")).to_have_attribute("data-step", "call")
        room_title = clinician_page.title()
        assert room_title.startswith(f"Session with {CLIENT} · ")
        assert dashboard.title().startswith("Sessions · ")

        client_page = open_room(client, room)
        pass_device_check(client_page, "Go to the waiting room")

        expect(dashboard).to_have_title(re.compile(r"^\(Waiting\) Sessions · "))
        expect(clinician_page).to_have_title(f"(Waiting) {room_title}")
        for page in (dashboard, clinician_page):
            tones = eventually(
                page,
                lambda page=page: page.evaluate("() => window.tones"),
                bool,
                what=f"tones played on {page.url}",
                timeout=5,
            )
            assert set(tones) == {"running"}, tones  # heard, not held back by the browser

        # Back in front, the titles are as before.
        for page in (dashboard, clinician_page):
            page.evaluate("() => window.inFront()")
        expect(dashboard).to_have_title(re.compile(r"^Sessions · "))
        expect(clinician_page).to_have_title(room_title)


@pytest.mark.e2e
def test_mute_camera_off_quality_and_an_ice_restart_during_a_call(
    room: Room, launch_browser: LaunchBrowser
) -> None:
    with launch_browser(args=ARGS) as browser:
        client, clinician = people(browser, room)
        for context in (client, clinician):
            context.add_init_script(KEEP_PEER_CONNECTIONS)
        client_page, clinician_page = start_call(room, client, clinician)
        remote_note = clinician_page.locator("#remote-note")

        # The quality indicator shows the round trip getStats measures.
        quality = clinician_page.locator("#quality")
        expect(quality).to_have_text(
            re.compile(
                r"^Connection: (good|fair|poor) \(\d+ ms, \d+\.\d% lost(, receiving \d+×\d+)?\)$"
            )
        )
        expect(quality).to_have_attribute("data-quality", re.compile(r"^(good|fair|poor)$"))
        shown_ms = int(re.search(r"\((\d+) ms", quality.text_content() or "")[1])
        measured_ms = clinician_page.evaluate(ROUND_TRIP_MS)
        assert measured_ms is not None
        assert abs(shown_ms - measured_ms) <= 50, (shown_ms, measured_ms)

        # Ana mutes: her microphone track is off, Maya hears silence and sees why.
        assert audio_heard(clinician_page)
        mute = client_page.locator("#mute-button")
        expect(mute).to_have_text("Mute")
        mute.click()
        expect(mute).to_have_text("Unmute")
        expect(mute).to_have_attribute("aria-pressed", "true")
        assert client_page.evaluate(SENDER_TRACKS_ENABLED) == {"audio": False, "video": True}
        expect(remote_note).to_be_visible()
        expect(remote_note).to_have_text(f"{CLIENT} is muted")
        eventually(
            clinician_page,
            lambda: audio_heard(clinician_page),
            lambda heard: not heard,
            what="sound from the muted client",
            timeout=10,
        )

        # Ana turns her camera off: Maya's picture of her goes black.
        assert clinician_page.evaluate(REMOTE_BRIGHTNESS) > 10
        camera = client_page.locator("#camera-button")
        expect(camera).to_have_text("Turn camera off")
        camera.click()
        expect(camera).to_have_text("Turn camera on")
        expect(camera).to_have_attribute("aria-pressed", "true")
        assert client_page.evaluate(SENDER_TRACKS_ENABLED) == {"audio": False, "video": False}
        expect(remote_note).to_have_text(f"{CLIENT} turned their camera off · {CLIENT} is muted")
        eventually(
            clinician_page,
            lambda: clinician_page.evaluate(REMOTE_BRIGHTNESS),
            lambda brightness: brightness < 1,
            what="brightness of the client's video with the camera off",
            timeout=10,
        )

        # And both back on.
        mute.click()
        camera.click()
        expect(mute).to_have_attribute("aria-pressed", "false")
        expect(camera).to_have_attribute("aria-pressed", "false")
        assert client_page.evaluate(SENDER_TRACKS_ENABLED) == {"audio": True, "video": True}
        expect(remote_note).to_be_hidden()
        eventually(
            clinician_page,
            lambda: clinician_page.evaluate(REMOTE_BRIGHTNESS),
            lambda brightness: brightness > 10,
            what="brightness of the client's video with the camera on again",
            timeout=10,
        )
        eventually(
            clinician_page,
            lambda: audio_heard(clinician_page),
            bool,
            what="sound from the unmuted client",
            timeout=10,
        )

        # The network path fails on Ana's side: her page restarts ICE (new credentials, a new
        # offer and answer through the server) and the call comes back.
        client_before, clinician_before = (
            client_page.evaluate(ICE_USERNAME_FRAGMENTS),
            clinician_page.evaluate(ICE_USERNAME_FRAGMENTS),
        )
        client_page.evaluate(ICE_FAILS)
        client_after = eventually(
            client_page,
            lambda: client_page.evaluate(ICE_USERNAME_FRAGMENTS),
            lambda fragments: fragments[0] != client_before[0],
            what="the client's ICE credentials after the failure",
            timeout=VIDEO_TIMEOUT_S,
        )
        clinician_after = eventually(
            clinician_page,
            lambda: clinician_page.evaluate(ICE_USERNAME_FRAGMENTS),
            lambda fragments: fragments[1] == client_after[0],
            what="the client's new ICE credentials on the clinician's side",
            timeout=VIDEO_TIMEOUT_S,
        )
        assert clinician_after[0] != clinician_before[0]  # both sides restarted
        expect_connected(client_page, clinician_page)
        expect_video_flowing(client_page, clinician_page)


def audio_heard(page: Page, *, over_ms: int = 1500) -> bool:
    """Whether the remote audio carried any sound over ``over_ms`` (Chromium's fake
    microphone beeps every second)."""
    before = page.evaluate(AUDIO_ENERGY_RECEIVED)
    page.wait_for_timeout(over_ms)
    return page.evaluate(AUDIO_ENERGY_RECEIVED) - before > 1e-6


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("error", "explanation"),
    [
        (
            "NotFoundError",
            "No camera or microphone was found. Plug one in, or choose another one below. "
            "You can join with sound only.",
        ),
        (
            "NotReadableError",
            "Your camera or microphone is busy: another app or browser tab (for example "
            "another video call) is using it. Close that app, then try again. You can join "
            "with sound only.",
        ),
    ],
    ids=["no-camera", "camera-busy"],
)
def test_a_missing_or_busy_camera_is_explained_and_sound_only_is_offered(
    room: Room, launch_browser: LaunchBrowser, error: str, explanation: str
) -> None:
    url = room.server.url
    with launch_browser(args=ARGS) as browser:
        client = person(browser, url=url, session=room.client_session, name="client")
        client.add_init_script(f"({CAMERA_FAILS_WITH})({json.dumps(error)})")
        page = open_room(client, room)

        message = page.locator("#device-error")
        expect(message).to_be_visible()
        expect(message).to_have_text(explanation)
        expect(page.get_by_role("button", name="Go to the waiting room")).to_be_enabled()
        assert page.evaluate(PREVIEW_TRACKS) == ["audio:live"]
        page.get_by_role("button", name="Go to the waiting room").click()
        expect(page.locator("#room")).to_have_attribute("data-step", "waiting")
