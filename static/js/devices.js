// Camera, microphone and speakers, for the room's device check and the device check page
// (/check-devices/): what went wrong in plain words, the device pickers, the microphone level
// and a test sound. Nothing here opens a connection: what the camera and microphone pick up
// stays in the page.

export function mediaAvailable() {
  return Boolean(window.isSecureContext && navigator.mediaDevices);
}

export function explainMediaError(error) {
  if (!mediaAvailable()) {
    return "This page must be opened over a secure connection (an address starting with https://) or on localhost before the browser lets it use a camera.";
  }
  switch (error && error.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Your browser blocked the camera and microphone for this page. Allow them (click the camera icon in the address bar, or check the browser's site settings) and reload the page.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No camera or microphone was found. Plug one in, or choose another one below.";
    case "NotReadableError":
    case "AbortError":
      return "Your camera or microphone is busy: another app or browser tab (for example another video call) is using it. Close that app, then try again.";
    default:
      return `The camera and microphone could not be started (${error && error.name ? error.name : "unknown error"}).`;
  }
}

// The camera and microphone: {stream, cameraProblem}. Without a usable camera (none, or busy)
// the microphone alone, with the explanation in cameraProblem: a session can go ahead with
// sound only. Any other failure is thrown.
export async function openMedia(cameraId, microphoneId) {
  const audio = microphoneId ? { deviceId: { exact: microphoneId } } : true;
  // The size is asked for with whichever camera: a camera id alone gets the browser's default
  // size (640×480 in Chromium), so the picture shrank after a reload or a change of camera.
  const video = { width: { ideal: 1280 }, height: { ideal: 720 } };
  if (cameraId) video.deviceId = { exact: cameraId };
  try {
    return { stream: await navigator.mediaDevices.getUserMedia({ audio, video }), cameraProblem: null };
  } catch (error) {
    if (error.name === "NotFoundError" || error.name === "NotReadableError") {
      const stream = await navigator.mediaDevices.getUserMedia({ audio, video: false });
      return { stream, cameraProblem: explainMediaError(error) };
    }
    throw error;
  }
}

const DEVICE_NAMES = { videoinput: "Camera", audioinput: "Microphone", audiooutput: "Speakers" };

export function fillPicker(select, devices, kind, currentId) {
  select.replaceChildren();
  devices
    .filter((device) => device.kind === kind)
    .forEach((device, index) => {
      const option = new Option(device.label || `${DEVICE_NAMES[kind]} ${index + 1}`, device.deviceId);
      option.selected = device.deviceId === currentId;
      select.append(option);
    });
}

// Shows the microphone's level in ``meter`` (and tells ``onLevel`` each reading) until the
// returned function is called; null when the stream has no sound or the browser no Web Audio.
// Each reading looks at the last 2048 samples (about 40 ms), so that a short sound between two
// readings is not missed as often.
export function levelMeter(stream, meter, onLevel = null) {
  const track = stream.getAudioTracks()[0];
  if (!track || !window.AudioContext) return null;
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 2048;
  context.createMediaStreamSource(new MediaStream([track])).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let peak = 0;
    for (const sample of samples) peak = Math.max(peak, Math.abs(sample));
    meter.value = Math.min(1, peak * 2);
    if (onLevel) onLevel(meter.value);
  }, 100);
  return () => {
    clearInterval(timer);
    context.close();
  };
}

// Whether the page can choose where sound plays (Chromium, Firefox); elsewhere it plays on the
// system's default speakers.
export function speakerChoice() {
  return typeof HTMLMediaElement !== "undefined" && "setSinkId" in HTMLMediaElement.prototype;
}

// A short rising three-note chime as a WAV file, made here so that the test needs no download.
export function testSound() {
  const rate = 24000;
  const notes = [523.25, 659.25, 783.99];
  const noteSamples = Math.round(rate * 0.35);
  const samples = new Int16Array(noteSamples * notes.length);
  notes.forEach((frequency, note) => {
    for (let i = 0; i < noteSamples; i += 1) {
      // Fade in and out over 20 ms so that the notes do not click.
      const edge = Math.min(1, i / (rate * 0.02), (noteSamples - i) / (rate * 0.02));
      samples[note * noteSamples + i] = Math.round(Math.sin((2 * Math.PI * frequency * i) / rate) * edge * 0.4 * 32767);
    }
  });
  const header = new DataView(new ArrayBuffer(44));
  const text = (offset, value) => [...value].forEach((char, i) => header.setUint8(offset + i, char.charCodeAt(0)));
  text(0, "RIFF");
  header.setUint32(4, 36 + samples.byteLength, true);
  text(8, "WAVE");
  text(12, "fmt ");
  header.setUint32(16, 16, true);
  header.setUint16(20, 1, true); // PCM
  header.setUint16(22, 1, true); // mono
  header.setUint32(24, rate, true);
  header.setUint32(28, rate * 2, true);
  header.setUint16(32, 2, true);
  header.setUint16(34, 16, true);
  text(36, "data");
  header.setUint32(40, samples.byteLength, true);
  return new Blob([header, samples], { type: "audio/wav" });
}
