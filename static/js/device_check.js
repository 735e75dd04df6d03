// The device check page: camera preview, microphone level and a test sound, at any time and
// without joining a room (no connection is opened). How each device fared is also kept on
// #devices (data-camera, data-microphone, data-speakers), as the room page keeps its state.

import {
  explainMediaError,
  fillPicker,
  levelMeter,
  mediaAvailable,
  openMedia,
  speakerChoice,
  testSound,
} from "./devices.js";

const $ = (id) => document.getElementById(id);
const page = $("devices");

let stream = null;
let meterStop = null;
let heard = false;

function problem(text) {
  $("device-error").textContent = text;
  $("device-error").hidden = !text;
}

async function start() {
  problem("");
  $("device-ok").hidden = true;
  $("mic-heard").hidden = true;
  $("retry-button").hidden = true;
  page.dataset.camera = page.dataset.microphone = "checking";
  if (!mediaAvailable()) {
    problem(explainMediaError(null));
    page.dataset.camera = page.dataset.microphone = "unavailable";
    return;
  }
  if (meterStop) meterStop();
  meterStop = null;
  if (stream) stream.getTracks().forEach((track) => track.stop());
  stream = null;
  let cameraProblem = null;
  try {
    ({ stream, cameraProblem } = await openMedia(
      $("camera-select").value || null,
      $("microphone-select").value || null,
    ));
  } catch (error) {
    problem(explainMediaError(error));
    page.dataset.camera = page.dataset.microphone = "unavailable";
    $("retry-button").hidden = false;
    return;
  }
  $("preview").srcObject = stream;
  const devices = await navigator.mediaDevices.enumerateDevices();
  const [camera] = stream.getVideoTracks();
  const [microphone] = stream.getAudioTracks();
  fillPicker($("camera-select"), devices, "videoinput", camera && camera.getSettings().deviceId);
  fillPicker($("microphone-select"), devices, "audioinput", microphone && microphone.getSettings().deviceId);
  if (speakerChoice() && devices.some((device) => device.kind === "audiooutput")) {
    const current = $("speaker-select").value;
    fillPicker($("speaker-select"), devices, "audiooutput", current || "default");
    $("speaker-field").hidden = false;
    $("speaker-default").hidden = true;
  }
  page.dataset.camera = camera ? "on" : "unavailable";
  page.dataset.microphone = microphone ? "on" : "unavailable";
  if (cameraProblem) {
    problem(`${cameraProblem} In the session you can still take part with sound only.`);
    $("retry-button").hidden = false;
  } else {
    $("device-ok").hidden = false;
  }
  heard = false;
  meterStop = levelMeter(stream, $("mic-level"), heardOnce);
}

// Says so once the microphone has picked something up.
function heardOnce(level) {
  if (heard || level <= 0.05) return;
  heard = true;
  page.dataset.microphone = "heard";
  $("mic-heard").hidden = false;
}

async function playTestSound() {
  const button = $("speaker-button");
  const status = $("speaker-status");
  const audio = $("speaker-audio");
  button.disabled = true;
  page.dataset.speakers = "playing";
  status.textContent = "Playing a test sound…";
  try {
    if (!audio.src) audio.src = URL.createObjectURL(testSound());
    const speaker = $("speaker-select").value;
    if (speakerChoice() && speaker && audio.sinkId !== speaker) await audio.setSinkId(speaker);
    audio.currentTime = 0;
    await audio.play();
    await new Promise((resolve) => audio.addEventListener("ended", resolve, { once: true }));
    page.dataset.speakers = "played";
    status.textContent =
      "Did you hear three rising notes? If not, turn the volume up, check that the sound is not muted" +
      (speakerChoice() && !$("speaker-field").hidden ? ", or choose other speakers above." : ".");
  } catch (error) {
    page.dataset.speakers = "failed";
    status.textContent = `The test sound could not be played (${error.name || "unknown error"}). Check your speakers or headphones, then try again.`;
  } finally {
    button.disabled = false;
  }
}

$("camera-select").addEventListener("change", start);
$("microphone-select").addEventListener("change", start);
$("retry-button").addEventListener("click", start);
$("speaker-button").addEventListener("click", playTestSound);
start();
