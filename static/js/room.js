// The session room: device check, waiting room and a peer-to-peer call.
//
// Signaling runs over a WebSocket to the server, which relays frames to the other participant
// only. The call itself uses the "perfect negotiation" pattern: both sides may (re)negotiate at
// any time and the server-assigned "polite" side yields when offers collide. A dropped
// WebSocket reconnects with backoff without touching the call; a failed connection restarts
// ICE; reloading the page joins again without the device check.

import { explainMediaError, fillPicker, levelMeter, mediaAvailable, openMedia } from "./devices.js";

const config = JSON.parse(document.getElementById("room-config").textContent);
const room = document.getElementById("room");
const $ = (id) => document.getElementById(id);

const FINAL_CLOSE = {
  4000: "The session has ended.",
  4401: "You are signed out. Sign in again and reopen the session link.",
  4403: "This session belongs to someone else's account.",
  4408: "The room is not open at the moment.",
  4409: "This session was opened in another tab or window. Continue there.",
};
const REMEMBER_KEY = `room:${config.appointment}`;
const pageId = crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2);

let localStream = null;
let meterStop = null;
let socket = null;
let reconnectAttempt = 0;
let reconnectTimer = null;
let finished = false;
let joined = false;
let polite = false;
let admitted = false;
let iceServers = [];
let peerPresent = false;
let peerPage = null;
// The other side's microphone and camera as they last said; a state frame carries only what
// changed, so it is kept here.
let peerMedia = { audio: true, video: true };
let pc = null;
let makingOffer = false;
let ignoreOffer = false;
let settingRemoteAnswer = false;
let inbox = Promise.resolve();
let statsTimer = null;
const originalTitle = document.title;

// The heartbeat: a connection can go silent without closing (quiet Wi-Fi, a stalled proxy),
// and a browser may not notice for minutes. The page pings; hearing nothing for a while, it
// drops the socket and connects again (through the proxy, to whichever process is up).
const PING_MS = 5000;
const SILENT_MS = 15000;
let heartbeatTimer = null;
let lastHeard = 0;

// Chat the person sent and the server has not confirmed: id → {body, item, deadline}. Each
// message shows "sending…" until the server's receipt (the chat frame with its id) comes back,
// is sent again after every reconnect, and shows "not sent" with a retry button once GIVE_UP_MS
// have passed without a receipt or the server refused it. The server keeps each id once, so a
// resend never makes a second copy.
const GIVE_UP_MS = 30000;
const outbox = new Map();
let outboxTimer = null;

function status(text) {
  $("room-status").textContent = text;
}

function show(step) {
  room.dataset.step = step;
  for (const id of ["device-check", "waiting", "call", "left", "ended", "stopped"]) {
    $(id).hidden = id !== step;
  }
  if (step !== "call") $("admit-panel").hidden = true;
}

// --- Device check ----------------------------------------------------------------------------

function showMicLevel(stream) {
  if (meterStop) meterStop();
  const stop = levelMeter(stream, $("mic-level"));
  meterStop = stop && (() => {
    stop();
    meterStop = null;
  });
}

async function startPreview() {
  $("device-error").hidden = true;
  $("join-button").disabled = true;
  if (!mediaAvailable()) {
    $("device-error").textContent = explainMediaError(null);
    $("device-error").hidden = false;
    return false;
  }
  const cameraId = $("camera-select").value || null;
  const microphoneId = $("microphone-select").value || null;
  if (localStream) localStream.getTracks().forEach((track) => track.stop());
  try {
    const { stream, cameraProblem } = await openMedia(cameraId, microphoneId);
    localStream = stream;
    if (cameraProblem) {
      $("device-error").textContent = `${cameraProblem} You can join with sound only.`;
      $("device-error").hidden = false;
    }
  } catch (error) {
    localStream = null;
    $("device-error").textContent = explainMediaError(error);
    $("device-error").hidden = false;
    return false;
  }
  $("preview").srcObject = localStream;
  const devices = await navigator.mediaDevices.enumerateDevices();
  const videoTrack = localStream.getVideoTracks()[0];
  const audioTrack = localStream.getAudioTracks()[0];
  fillPicker($("camera-select"), devices, "videoinput", videoTrack && videoTrack.getSettings().deviceId);
  fillPicker($("microphone-select"), devices, "audioinput", audioTrack && audioTrack.getSettings().deviceId);
  showMicLevel(localStream);
  $("join-button").disabled = false;
  return true;
}

// --- Signaling -------------------------------------------------------------------------------

function send(frame) {
  if (socket && socket.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify(frame));
    return true;
  }
  return false;
}

function connectSignaling() {
  clearTimeout(reconnectTimer);
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}${config.socketPath}?page=${pageId}`);
  socket = ws;
  room.dataset.signaling = "connecting";
  ws.addEventListener("open", () => {
    if (ws !== socket) return;
    reconnectAttempt = 0;
    room.dataset.signaling = "open";
    startHeartbeat(ws);
  });
  ws.addEventListener("message", (event) => {
    // A socket given up as silent may still deliver later: only the current one counts.
    if (ws !== socket) return;
    lastHeard = Date.now();
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    // Frames are handled one after another: a candidate must not overtake its offer.
    inbox = inbox.then(() => handle(frame)).catch((error) => console.error("signaling", error));
  });
  ws.addEventListener("close", (event) => {
    if (ws !== socket) return;
    signalingLost(event.code);
  });
}

function signalingLost(code) {
  clearInterval(heartbeatTimer);
  room.dataset.signaling = "closed";
  if (finished) return;
  if (code in FINAL_CLOSE) {
    stop(code);
    return;
  }
  // Reconnect with exponential backoff and jitter; the call itself keeps going.
  const delay = Math.min(10000, 500 * 2 ** reconnectAttempt) * (0.75 + Math.random() / 2);
  reconnectAttempt += 1;
  status("Connection to the clinic server lost. Reconnecting…");
  reconnectTimer = setTimeout(connectSignaling, delay);
}

function startHeartbeat(ws) {
  lastHeard = Date.now();
  clearInterval(heartbeatTimer);
  heartbeatTimer = setInterval(() => {
    if (ws !== socket) return;
    if (Date.now() - lastHeard > SILENT_MS) {
      // A silent socket's close handshake would wait on the same silence: give it up now and
      // connect again; its events are ignored from here on.
      socket = null;
      room.dataset.heartbeat = "missed";
      ws.close();
      signalingLost(1006);
      return;
    }
    send({ type: "ping" });
  }, PING_MS);
}

async function handle(frame) {
  switch (frame.type) {
    case "welcome":
      polite = frame.polite;
      admitted = frame.admitted;
      iceServers = frame.iceServers || [];
      status("");
      enterRoom();
      if (pc && ["failed", "disconnected"].includes(pc.iceConnectionState)) pc.restartIce();
      resendOutbox();
      // A mute or camera change made while the socket was down reaches the other side now.
      sendOwnMedia({ full: true });
      break;
    case "pong":
      break;
    case "ack":
      if (pendingEnd && frame.id === pendingEnd.id) {
        clearTimeout(pendingEnd.timer);
        pendingEnd = null;
      }
      break;
    case "peer":
      await onPeer(frame);
      break;
    case "admitted":
      admitted = true;
      enterRoom();
      break;
    case "offer":
    case "answer":
      await onDescription({ type: frame.type, sdp: frame.sdp });
      break;
    case "candidate":
      await onCandidate(frame.candidate);
      break;
    case "state":
      onPeerState(frame);
      break;
    case "chat":
      showChat(frame);
      break;
    case "prompt":
      showPrompt(frame.prompt);
      await followMeasure(frame.prompt && frame.prompt.measure);
      break;
    case "media":
      await onMedia(frame);
      break;
    case "framing":
      showFraming(frame);
      break;
    case "bye":
      closePeerConnection();
      $("remote-note").textContent = `${config.peerName} left the session.`;
      break;
    case "ended":
      finished = true;
      stop(4000);
      break;
    case "error":
      if (frame.id && outbox.has(frame.id)) {
        chatFailed(frame.id, frame.message);
        break;
      }
      if (pendingEnd && frame.id === pendingEnd.id) {
        clearTimeout(pendingEnd.timer);
        pendingEnd = null;
      }
      if (frame.code !== "replaced") status(frame.message);
      break;
  }
}

async function onPeer(frame) {
  if (frame.state === "left") {
    peerPresent = false;
    $("remote-note").textContent = `${config.peerName} left. They can come back while the room is open.`;
    $("remote-note").hidden = false;
    updateAdmitPanel();
    return;
  }
  const newPage = frame.page !== peerPage;
  const reloaded = peerPage !== null && newPage;
  peerPresent = true;
  peerPage = frame.page;
  if (reloaded) {
    // The other side loaded the page again: its old connection is gone, start afresh.
    closePeerConnection();
  }
  // A new page starts with its camera and microphone on; and whoever (re)joined may have
  // missed that ours are off.
  if (newPage) peerMedia = { audio: true, video: true };
  sendOwnMedia();
  updateAdmitPanel();
  if (pc && pc.connectionState === "connected") showPeerMedia();
  if (admitted && (pc || !polite)) {
    const created = ensurePeerConnection();
    if (!created && pc.signalingState === "have-local-offer") {
      // Our offer may have been sent while they were away: send it again.
      send({ type: "offer", sdp: pc.localDescription.sdp });
    } else if (!created && pc.connectionState !== "connected") {
      pc.restartIce();
    }
  }
}

// --- Waiting room and admission --------------------------------------------------------------

function enterRoom() {
  if (config.role === "client" && !admitted) {
    show("waiting");
    return;
  }
  show("call");
  $("local-video").srcObject = localStream;
  updateAdmitPanel();
  // The call is started by the side that is not polite; the polite side answers its offer.
  // Both offering at once would be resolved by a rollback, which Chromium does not always
  // survive: a rolled-back first offer can leave it gathering no ICE candidates at all.
  if (admitted && peerPresent && !polite) ensurePeerConnection();
}

function updateAdmitPanel() {
  if (config.role !== "clinician") return;
  const waiting = peerPresent && !admitted;
  $("admit-panel").hidden = !waiting;
  if (waiting) {
    status(`${config.peerName} is waiting.`);
    announceWaiting();
  } else {
    document.title = originalTitle;
  }
}

function announceWaiting() {
  if (document.hidden) document.title = `(Waiting) ${originalTitle}`;
  window.waitingChime.play();
}

// The chime itself: static/js/chime.js, shared with the sessions page.

document.addEventListener("visibilitychange", () => {
  if (!document.hidden) document.title = originalTitle;
});

async function admit(event) {
  event.preventDefault();
  $("admit-button").disabled = true;
  const form = $("admit-form");
  const response = await fetch(form.action, {
    method: "POST",
    headers: { Accept: "application/json", "X-CSRFToken": form.elements.csrfmiddlewaretoken.value },
    credentials: "same-origin",
  });
  $("admit-button").disabled = false;
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    status(body.error || "The client could not be let in. Try again.");
  }
}

// --- The call (perfect negotiation) ----------------------------------------------------------

function ensurePeerConnection() {
  if (pc) return false;
  pc = new RTCPeerConnection({ iceServers });
  for (const track of localStream ? localStream.getTracks() : []) {
    // The clinician assesses posture and movement from the picture: when the machine or the
    // link is short, send fewer frames rather than a smaller picture.
    if (track.kind === "video") track.contentHint = "detail";
    pc.addTrack(track, localStream);
  }

  pc.addEventListener("track", ({ streams, track }) => {
    const remote = $("remote-video");
    remote.srcObject = streams[0] || new MediaStream([track]);
    showPeerMedia();
  });
  pc.addEventListener("negotiationneeded", async () => {
    try {
      makingOffer = true;
      await pc.setLocalDescription();
      send({ type: pc.localDescription.type, sdp: pc.localDescription.sdp });
    } catch (error) {
      console.error("negotiation", error);
    } finally {
      makingOffer = false;
    }
  });
  pc.addEventListener("icecandidate", ({ candidate }) => {
    send({ type: "candidate", candidate: candidate ? candidate.toJSON() : null });
  });
  pc.addEventListener("iceconnectionstatechange", () => {
    if (pc && pc.iceConnectionState === "failed") pc.restartIce();
  });
  pc.addEventListener("connectionstatechange", () => {
    if (!pc) return;
    room.dataset.connection = pc.connectionState;
    send({ type: "state", connection: pc.connectionState });
    if (pc.connectionState === "connected") status("");
    if (pc.connectionState === "disconnected") status("The connection is unstable: reconnecting the call…");
  });
  clearInterval(statsTimer);
  statsTimer = setInterval(updateQuality, 1000);
  return true;
}

async function onDescription(description) {
  ensurePeerConnection();
  const readyForOffer = !makingOffer && (pc.signalingState === "stable" || settingRemoteAnswer);
  const collision = description.type === "offer" && !readyForOffer;
  ignoreOffer = !polite && collision;
  if (ignoreOffer) return;
  settingRemoteAnswer = description.type === "answer";
  await pc.setRemoteDescription(description);
  settingRemoteAnswer = false;
  if (description.type === "offer") {
    await pc.setLocalDescription();
    send({ type: pc.localDescription.type, sdp: pc.localDescription.sdp });
  }
}

async function onCandidate(candidate) {
  if (!pc) return;
  try {
    await pc.addIceCandidate(candidate || undefined);
  } catch (error) {
    if (!ignoreOffer) console.warn("candidate", error);
  }
}

function closePeerConnection() {
  clearInterval(statsTimer);
  if (pc) {
    pc.close();
    pc = null;
  }
  makingOffer = false;
  ignoreOffer = false;
  settingRemoteAnswer = false;
  room.dataset.connection = "new";
  $("remote-video").srcObject = null;
  $("remote-note").hidden = false;
}

function onPeerState(frame) {
  if (!("audio" in frame || "video" in frame)) return;
  for (const kind of ["audio", "video"]) {
    if (kind in frame) peerMedia[kind] = frame[kind];
  }
  showPeerMedia();
}

function showPeerMedia() {
  const notes = [];
  if (!peerMedia.video) notes.push(`${config.peerName} turned their camera off`);
  if (!peerMedia.audio) notes.push(`${config.peerName} is muted`);
  $("remote-note").textContent = notes.join(" · ");
  $("remote-note").hidden = notes.length === 0;
}

function sendOwnMedia({ full = false } = {}) {
  // Only what is off (on is what a newly arrived side assumes), or everything after a
  // reconnect (the other side still believes what it last heard).
  if (!localStream) return;
  const frame = { type: "state", id: newId() };
  const [microphone] = localStream.getAudioTracks();
  const [camera] = localStream.getVideoTracks();
  if (microphone && (full || !microphone.enabled)) frame.audio = microphone.enabled;
  if (camera && (full || !camera.enabled)) frame.video = camera.enabled;
  if ("audio" in frame || "video" in frame) send(frame);
}

async function updateQuality() {
  if (!pc) return;
  const stats = await pc.getStats();
  let rtt = null;
  let lost = 0;
  let received = 0;
  let framesDecoded = 0;
  // The size of the picture this side receives: what the other side's camera really sends.
  let size = null;
  stats.forEach((report) => {
    if (report.type === "candidate-pair" && report.nominated && report.state === "succeeded") {
      rtt = report.currentRoundTripTime ?? rtt;
    }
    if (report.type === "inbound-rtp") {
      lost += report.packetsLost || 0;
      received += report.packetsReceived || 0;
      if (report.kind === "video") framesDecoded += report.framesDecoded || 0;
      if (report.kind === "video" && report.frameWidth) size = `${report.frameWidth}×${report.frameHeight}`;
    }
  });
  room.dataset.framesDecoded = String(framesDecoded);
  const loss = received + lost > 0 ? lost / (received + lost) : 0;
  let quality = "unknown";
  if (rtt !== null) quality = rtt < 0.15 && loss < 0.02 ? "good" : rtt < 0.4 && loss < 0.08 ? "fair" : "poor";
  const label = { good: "good", fair: "fair", poor: "poor", unknown: "checking" }[quality];
  const element = $("quality");
  element.dataset.quality = quality;
  element.dataset.size = size || "";
  const details = [];
  if (rtt !== null) details.push(`${Math.round(rtt * 1000)} ms`, `${(loss * 100).toFixed(1)}% lost`);
  if (size) details.push(`receiving ${size}`);
  element.textContent = details.length ? `Connection: ${label} (${details.join(", ")})` : `Connection: ${label}`;
}

// --- Controls and chat -----------------------------------------------------------------------

function toggle(kind, button, onText, offText) {
  const tracks = localStream ? (kind === "audio" ? localStream.getAudioTracks() : localStream.getVideoTracks()) : [];
  if (!tracks.length) return;
  const enabled = !tracks[0].enabled;
  tracks.forEach((track) => (track.enabled = enabled));
  button.setAttribute("aria-pressed", String(!enabled));
  button.textContent = enabled ? onText : offText;
  send({ type: "state", id: newId(), [kind]: enabled });
}

function showChat(frame) {
  const pending = frame.clientId && outbox.get(frame.clientId);
  if (pending) outbox.delete(frame.clientId); // the server's receipt: the message is kept
  // Each message once: a resend is relayed again and a reconnect brings the recent history.
  if (document.querySelector(`#chat-log li[data-id="${CSS.escape(frame.id)}"]`)) {
    if (pending) pending.item.remove();
    return;
  }
  const item = chatItem(frame.from, frame.name, frame.body, frame.sentAt);
  item.dataset.id = frame.id;
  item.dataset.state = "sent";
  if (pending) {
    // Where the person wrote it, not after what arrived meanwhile.
    pending.item.replaceWith(item);
    return;
  }
  $("chat-log").append(item);
  item.scrollIntoView({ block: "nearest" });
}

function chatItem(from, sender, text, sentAt) {
  const item = document.createElement("li");
  item.className = `chat-${from}`;
  const name = document.createElement("span");
  name.className = "chat-name";
  name.textContent = sender;
  const time = document.createElement("time");
  if (sentAt) {
    time.dateTime = sentAt;
    time.textContent = new Date(sentAt).toLocaleTimeString([], {
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
      timeZone: config.timeZone,
    });
  }
  const body = document.createElement("p");
  body.textContent = text;
  item.append(name, " ", time, body);
  return item;
}

function newId() {
  return crypto.randomUUID ? crypto.randomUUID() : fallbackUuid();
}

function sendChat(body) {
  const id = newId();
  const item = chatItem(config.role, config.ownName || "You", body, null);
  item.dataset.clientId = id;
  const note = document.createElement("span");
  note.className = "chat-note";
  item.append(note);
  $("chat-log").append(item);
  item.scrollIntoView({ block: "nearest" });
  const entry = { id, body, item, note, deadline: 0 };
  outbox.set(id, entry);
  chatSending(entry);
}

function fallbackUuid() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function chatSending(entry) {
  entry.deadline = Date.now() + GIVE_UP_MS;
  entry.item.dataset.state = "sending";
  entry.note.replaceChildren("sending…");
  send({ type: "chat", id: entry.id, body: entry.body });
  clearInterval(outboxTimer);
  outboxTimer = setInterval(checkOutbox, 1000);
}

function resendOutbox() {
  for (const entry of outbox.values()) {
    if (entry.item.dataset.state === "sending") send({ type: "chat", id: entry.id, body: entry.body });
  }
}

function checkOutbox() {
  let waiting = false;
  for (const [id, entry] of outbox) {
    if (entry.item.dataset.state !== "sending") continue;
    if (Date.now() > entry.deadline) chatFailed(id, null);
    else waiting = true;
  }
  if (!waiting) clearInterval(outboxTimer);
}

function chatFailed(id, reason) {
  const entry = outbox.get(id);
  if (!entry) return;
  entry.item.dataset.state = "failed";
  const retry = document.createElement("button");
  retry.type = "button";
  retry.className = "link-button";
  retry.textContent = "Retry";
  retry.addEventListener("click", () => chatSending(entry));
  entry.note.replaceChildren(reason ? `not sent (${reason}) — ` : "not sent — ", retry);
}

// What the clinician asks the client to do now (a step of the guided assessment).
function showPrompt(prompt) {
  const card = $("prompt");
  if (!card) return;
  if (!prompt || !prompt.title) {
    card.hidden = true;
    return;
  }
  $("prompt-step").textContent = `Test ${prompt.number} of ${prompt.total}`;
  $("prompt-title").textContent = prompt.title;
  $("prompt-view").textContent = `${prompt.viewLabel}: ${prompt.framing}`;
  $("prompt-instructions").replaceChildren(
    ...prompt.instructions.map((line) => {
      const item = document.createElement("li");
      item.textContent = line;
      return item;
    }),
  );
  card.dataset.step = prompt.step;
  card.hidden = false;
}

// --- Measuring: the camera also goes to the server's own peer ---------------------------------
//
// While the clinician measures a test, the prompt carries {measure: {id, view}}: this page then
// opens a second, send-only connection with its camera to the server, which analyses the pose.
// The call with the clinician is not touched.

let media = null; // {id, pc}

async function followMeasure(measure) {
  if (media && (!measure || measure.id !== media.id)) stopMedia();
  if (measure && !media && localStream && localStream.getVideoTracks().length) await startMedia(measure);
}

// The server analyses frames no larger than longSide pixels: the camera is sent to it scaled
// down to that (the call with the clinician keeps its full size), which spares the uplink and
// the server's decoding.
function measureScale(track, longSide) {
  const { width = 0, height = 0 } = track.getSettings();
  const side = Math.max(width, height);
  return longSide && side > longSide ? side / longSide : 1;
}

async function startMedia(measure) {
  const pc = new RTCPeerConnection({ iceServers });
  media = { id: measure.id, pc };
  room.dataset.measure = "connecting";
  const track = localStream.getVideoTracks()[0];
  pc.addTransceiver(track, {
    direction: "sendonly",
    streams: [localStream],
    sendEncodings: [{ scaleResolutionDownBy: measureScale(track, measure.longSide) }],
  });
  pc.addEventListener("icecandidate", ({ candidate }) => {
    send({ type: "media", action: "candidate", id: measure.id, candidate: candidate ? candidate.toJSON() : null });
  });
  pc.addEventListener("connectionstatechange", () => {
    if (media && media.pc === pc) room.dataset.measure = pc.connectionState;
  });
  await pc.setLocalDescription(await pc.createOffer());
  send({ type: "media", action: "offer", id: measure.id, sdp: pc.localDescription.sdp });
  const note = $("prompt-measure");
  if (note) {
    note.textContent = "Your clinician is measuring this test from your camera. No video is kept.";
    note.hidden = false;
  }
}

async function onMedia(frame) {
  if (!media || frame.id !== media.id) return;
  if (frame.action === "answer") {
    await media.pc.setRemoteDescription({ type: "answer", sdp: frame.sdp });
  } else if (frame.action === "error") {
    showFraming({ ok: false, hint: frame.message });
    stopMedia({ tell: false });
  }
}

function stopMedia({ tell = true } = {}) {
  if (!media) return;
  if (tell) send({ type: "media", action: "stop", id: media.id });
  media.pc.close();
  media = null;
  room.dataset.measure = "off";
  const note = $("prompt-measure");
  if (note) note.hidden = true;
  showFraming({ ok: true, hint: "" });
}

function showFraming(frame) {
  const hint = $("prompt-framing");
  if (!hint) return;
  hint.textContent = frame.hint || "";
  hint.hidden = !frame.hint;
  hint.classList.toggle("message-error", !frame.ok);
  hint.classList.toggle("message-success", Boolean(frame.ok && frame.hint));
}

function leave() {
  send({ type: "bye" });
  finished = true;
  closePeerConnection();
  if (socket) socket.close(1000);
  show("left");
}

// Ending for both waits for the server's receipt: on a silent or lost connection the page
// says the session was not ended rather than looking as if it had been.
const END_RECEIPT_MS = 10000;
let pendingEnd = null;

function endForBoth() {
  if (!window.confirm(`End the session for you and ${config.peerName}?`)) return;
  const id = newId();
  const notEnded = () => {
    pendingEnd = null;
    status("The session was not ended: there is no connection to the clinic server. Try again once it is back.");
  };
  if (pendingEnd) clearTimeout(pendingEnd.timer);
  if (!send({ type: "bye", end: true, id })) {
    notEnded();
    return;
  }
  pendingEnd = { id, timer: setTimeout(notEnded, END_RECEIPT_MS) };
}

function stop(code) {
  if (pendingEnd) clearTimeout(pendingEnd.timer);
  pendingEnd = null;
  stopMedia({ tell: false });
  finished = true;
  clearTimeout(reconnectTimer);
  closePeerConnection();
  if (localStream) localStream.getTracks().forEach((track) => track.stop());
  if (meterStop) meterStop();
  sessionStorage.removeItem(REMEMBER_KEY);
  if (code === 4000) {
    show("ended");
    return;
  }
  $("stopped-reason").textContent = FINAL_CLOSE[code] || "The connection was closed.";
  show("stopped");
}

async function join() {
  if (joined) return;
  joined = true;
  if (meterStop) meterStop();
  sessionStorage.setItem(
    REMEMBER_KEY,
    JSON.stringify({ camera: $("camera-select").value, microphone: $("microphone-select").value }),
  );
  connectSignaling();
}

async function rejoin() {
  finished = false;
  joined = false;
  peerPage = null;
  if (!localStream || localStream.getTracks().every((track) => track.readyState === "ended")) {
    if (!(await startPreview())) {
      show("device-check");
      return;
    }
  }
  await join();
}

// --- Start -----------------------------------------------------------------------------------

$("camera-select").addEventListener("change", startPreview);
$("microphone-select").addEventListener("change", startPreview);
$("join-button").addEventListener("click", join);
$("admit-form").addEventListener("submit", admit);
$("mute-button").addEventListener("click", (event) => toggle("audio", event.currentTarget, "Mute", "Unmute"));
$("camera-button").addEventListener("click", (event) => toggle("video", event.currentTarget, "Turn camera off", "Turn camera on"));
$("rejoin-button").addEventListener("click", rejoin);
if ($("end-button")) $("end-button").addEventListener("click", endForBoth);
if ($("leave-button")) $("leave-button").addEventListener("click", leave);
$("chat-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("chat-input");
  const body = input.value.trim();
  if (!body) return;
  // Shown at once as "sending…": from here the page keeps it until the server confirms it.
  sendChat(body);
  input.value = "";
});

(async () => {
  const remembered = JSON.parse(sessionStorage.getItem(REMEMBER_KEY) || "null");
  if (remembered) {
    // A reload during the session: go straight back in with the same devices.
    for (const [select, value] of [[$("camera-select"), remembered.camera], [$("microphone-select"), remembered.microphone]]) {
      if (value) select.append(new Option("", value, true, true));
    }
    if (await startPreview()) {
      await join();
      return;
    }
    // The remembered devices are gone: choose again.
    $("camera-select").replaceChildren();
    $("microphone-select").replaceChildren();
  }
  show("device-check");
  await startPreview();
})();
