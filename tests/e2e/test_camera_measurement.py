"""Measuring from the camera during a real call in two browsers (Chromium's fake camera shows
no person): the clinician starts a measurement, both screens show the framing hint that nobody
is in view, the clinician stops it, and the call goes on. A reloaded panel gets the running
measurement back, and moving on to another test ends it on the server. With a real person's
clip as the client's camera, the real model measures them live, and the summary says how many
frames it used and why it left the others out."""

import re
from pathlib import Path

import av
import pytest
from playwright.sync_api import Locator, Page, expect

from assessments.models import Measurement, MeasurementStatus
from tests.e2e.conftest import LaunchBrowser, Room
from tests.e2e.test_video_call import (
    ARGS,
    KEEP_PEER_CONNECTIONS,
    eventually,
    people,
    start_call,
)

NOBODY = "Nobody is in view: stand in front of the camera."
MEDIA = Path(__file__).resolve().parents[1] / "media"
# The client's send-only connection to the server (the call's connection sends audio too): the
# camera's size, the sender's downscale, and the size of the frames it sends (null until the
# first statistics have them).
MEASUREMENT_SENDER = """async () => {
  const pc = window.peerConnections.find(
    (pc) =>
      pc.connectionState !== "closed" &&
      pc.getSenders().every((sender) => sender.track?.kind === "video")
  );
  const sender = pc.getSenders()[0];
  const { width, height } = sender.track.getSettings();
  let sent = null;
  (await pc.getStats()).forEach((report) => {
    if (report.type === "outbound-rtp" && report.frameWidth) {
      sent = [report.frameWidth, report.frameHeight];
    }
  });
  const scale = sender.getParameters().encodings[0].scaleResolutionDownBy;
  return { camera: [width, height], scale, sent };
}"""


def measure_the_lunge(client_page: Page, clinician_page: Page, *, side: str) -> Locator:
    """During the call the clinician starts the guided assessment and measures the lunge of
    ``side`` ("Left" or "Right"); the lunge's measure box, once the client's camera reaches
    the server and the measurement runs."""
    clinician_page.get_by_role("button", name="Start the guided assessment").click()
    expect(clinician_page.locator("#assessment")).to_have_attribute("data-connection", "open")
    clinician_page.locator('.step-link[data-step="lunge"]').click()
    box = clinician_page.locator('.measure[data-protocol="lunge"]')
    box.get_by_label(side).check()
    box.get_by_role("button", name="Measure").click()
    expect(client_page.locator("#room")).to_have_attribute(
        "data-measure", "connected", timeout=30_000
    )
    expect(box).to_have_attribute("data-state", "running", timeout=30_000)
    return box


@pytest.mark.e2e
def test_the_clinician_starts_and_stops_a_measurement_during_the_call(
    room: Room, launch_browser: LaunchBrowser
) -> None:
    with launch_browser(args=ARGS) as browser:
        client, clinician = people(browser, room)
        client.add_init_script(KEEP_PEER_CONNECTIONS)
        client_page, clinician_page = start_call(room, client, clinician)
        box = measure_the_lunge(client_page, clinician_page, side="Right")

        # The camera goes to the server at the size it analyses (640 pixels on the long side),
        # while the call keeps the camera's own size.
        sender = eventually(
            client_page,
            lambda: client_page.evaluate(MEASUREMENT_SENDER),
            lambda sender: sender["sent"] is not None,
            what="frames sent for the measurement",
            timeout=15,
        )
        assert sender["camera"] == [1280, 720]
        assert sender["scale"] == 2
        assert max(sender["sent"]) <= 640, sender

        # The client's page sends its camera to the server; nobody is in the fake picture.
        expect(box.locator(".measure-hint")).to_have_text(NOBODY)
        expect(box.locator(".measure-value")).to_have_text("FPPA: —")
        expect(client_page.locator("#prompt-framing")).to_have_text(NOBODY)
        expect(client_page.locator("#prompt-measure")).to_contain_text(
            "Your clinician is measuring this test from your camera"
        )

        box.get_by_role("button", name="Stop measuring").click()
        expect(box).to_have_attribute("data-state", "ended")
        expect(box.locator(".measure-summary")).to_contain_text(
            "Nothing to record (stopped by the clinician)"
        )
        expect(box.get_by_role("button", name="Accept the measured values")).to_be_hidden()
        expect(client_page.locator("#room")).to_have_attribute("data-measure", "off")
        expect(client_page.locator("#prompt-framing")).to_be_hidden()
        # The call itself was not disturbed.
        expect(client_page.locator("#room")).to_have_attribute("data-connection", "connected")
        expect(clinician_page.locator("#room")).to_have_attribute("data-connection", "connected")

    measurement = Measurement.objects.get()
    assert measurement.status == MeasurementStatus.ENDED
    assert (measurement.protocol, measurement.side) == ("lunge", "right")
    assert measurement.frames_analysed > 0
    assert measurement.summary["frames_used"] == 0
    assert measurement.end_reason == "stopped by the clinician"


@pytest.mark.e2e
def test_a_reloaded_panel_keeps_the_measurement_and_leaving_the_step_ends_it(
    room: Room, launch_browser: LaunchBrowser
) -> None:
    with launch_browser(args=ARGS) as browser:
        client, clinician = people(browser, room)
        client_page, clinician_page = start_call(room, client, clinician)
        box = measure_the_lunge(client_page, clinician_page, side="Left")

        # The clinician reloads the page: the call comes back, and so does the measurement,
        # still running, with its live readings and its Stop button.
        clinician_page.reload()
        expect(clinician_page.locator("#room")).to_have_attribute(
            "data-connection", "connected", timeout=30_000
        )
        expect(clinician_page.locator("#assessment")).to_have_attribute("data-connection", "open")
        expect(box).to_have_attribute("data-state", "running")
        expect(box.locator(".measure-hint")).to_have_text(NOBODY, timeout=10_000)
        expect(box.get_by_role("button", name="Stop measuring")).to_be_visible()

        # Moving on to the next test ends the measurement: the server's peer closes and the
        # client's page stops sending its camera, while the call goes on.
        clinician_page.locator('.step-link[data-step="knee_to_wall"]').click()
        expect(client_page.locator("#room")).to_have_attribute("data-measure", "off")
        expect(client_page.locator("#prompt-framing")).to_be_hidden()
        # The worker's summary, sent once its peer had closed and its thread had ended.
        expect(box).to_have_attribute("data-state", "ended")
        expect(box.locator(".measure-summary")).to_contain_text(
            "Nothing to record (the clinician moved to another test)"
        )
        expect(client_page.locator("#room")).to_have_attribute("data-connection", "connected")
        expect(clinician_page.locator("#room")).to_have_attribute("data-connection", "connected")

    measurement = Measurement.objects.get()
    assert (measurement.status, measurement.end_reason) == (
        MeasurementStatus.ENDED,
        "the clinician moved to another test",
    )
    assert measurement.worker_channel == ""
    assert measurement.frames_analysed > 0


@pytest.fixture(scope="module")
def clip_camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The frontal clip of tests/media as a Y4M file, which Chromium plays (in a loop) as its
    camera: portrait 360x640 at 30 frames a second (filmed at 60, so in slow motion)."""
    path = tmp_path_factory.mktemp("camera") / "frontal.y4m"
    source = MEDIA / "pose2sim-single-person-cam02.mp4"
    with av.open(str(source)) as clip, av.open(str(path), "w", format="yuv4mpegpipe") as y4m:
        stream = y4m.add_stream("rawvideo", rate=30)
        stream.width, stream.height, stream.pix_fmt = 360, 640, "yuv420p"
        for frame in clip.decode(video=0):
            small = frame.reformat(width=360, height=640, format="yuv420p")
            small.pts = None
            y4m.mux(stream.encode(small))
        y4m.mux(stream.encode(None))
    return path


@pytest.mark.e2e
def test_a_real_person_on_the_clients_camera_is_measured_live(
    room: Room, launch_browser: LaunchBrowser, clip_camera: Path
) -> None:
    with launch_browser(
        args=[*ARGS, f"--use-file-for-fake-video-capture={clip_camera}"]
    ) as browser:
        client, clinician = people(browser, room)
        client_page, clinician_page = start_call(room, client, clinician)
        box = measure_the_lunge(client_page, clinician_page, side="Left")

        # The real model finds the client in the clip: a live angle with its confidence, and
        # the client, square to the camera and wholly in the picture, is told to hold on.
        expect(box.locator(".measure-value")).to_have_text(
            re.compile(r"^FPPA \(left\): -?\d+(\.\d)?° · confidence (0|1)(\.\d+)?"),
            timeout=30_000,
        )
        expect(client_page.locator("#prompt-framing")).to_have_text(
            "Good: hold this position in the picture.", timeout=15_000
        )

        box.get_by_role("button", name="Stop measuring").click()
        expect(box).to_have_attribute("data-state", "ended", timeout=30_000)
        summary = box.locator(".measure-summary")
        expect(summary).to_contain_text(re.compile(r"\d+ of \d+ frames used"))
        expect(summary).to_contain_text("Confidence 0.")

    measurement = Measurement.objects.get()
    assert measurement.status == MeasurementStatus.ENDED
    assert measurement.frames_used > 0
    assert (
        measurement.frames_used + sum(measurement.frames_left_out.values())
        == (measurement.summary["frames"])
    )
    assert 0.5 <= measurement.confidence <= 1
    assert measurement.model_version.endswith("(model_complexity=1, unsmoothed, flip test)")
