// The clinician's guided-assessment panel (templates/assessments/_panel.html).
//
// Every value is saved over a WebSocket as it is entered. An edit carries the version of the
// value the page last saw; the server refuses it as a conflict if another window changed the
// value meanwhile, and the page asks which to keep. Edits not yet confirmed are kept in
// localStorage and sent again after a dropped connection or a reload, so nothing typed is lost.
// Opening a step shows its instructions on the client's screen.

const TYPING_PAUSE_MS = 700;
const panels = new WeakSet();

function start(panel) {
  if (panels.has(panel) || panel.dataset.status !== "draft") return;
  panels.add(panel);

  const storageKey = `assessment:${panel.dataset.assessment}:pending`;
  const versions = new Map();
  const timers = new Map();
  // key -> {id, value, base, at, conflict}: this page's edits not yet confirmed, starting with
  // the newest stored edit of each field (from before a reload, or from another tab).
  const pending = new Map();
  for (const edit of Object.values(stored()).sort((a, b) => (a.at || 0) - (b.at || 0))) {
    pending.set(edit.key, { id: edit.id, value: edit.value, base: edit.base, at: edit.at });
  }
  // Edits this page has finished with (saved, refused, replaced, or given up for another's).
  const settled = new Set();
  let socket = null;
  let attempt = 0;
  let retryTimer = null;
  let closedForGood = false;
  let measuring = null; // the measurement running: {id, protocol, box}

  const inputs = () => panel.querySelectorAll("[data-key]");
  const inputFor = (key) => document.getElementById(`f-${key}`);
  const messageFor = (key) => document.getElementById(`m-${key}`);

  for (const input of inputs()) versions.set(input.dataset.key, Number(input.dataset.version || 0));
  // Edits from before a reload go back into their fields.
  for (const [key, edit] of pending) {
    const input = inputFor(key);
    if (input) setInput(input, edit.value);
  }

  // --- Status -------------------------------------------------------------------------------

  // The tabs of one browser share this storage, one entry per edit (id -> {key, value, base,
  // at}): each page adds its own unconfirmed edits and removes only those it settled, so a tab
  // that saves a value never wipes another tab's offline edit, even of the same field.
  function stored() {
    try {
      const entries = JSON.parse(localStorage.getItem(storageKey) || "{}");
      return Object.fromEntries(Object.entries(entries).filter(([id, edit]) => edit && edit.id === id && edit.key));
    } catch {
      return {};
    }
  }

  function settle(key) {
    const edit = pending.get(key);
    if (edit) settled.add(edit.id);
    pending.delete(key);
  }

  function persist() {
    const kept = stored();
    for (const id of Object.keys(kept)) if (settled.has(id)) delete kept[id];
    // A conflict is not kept: after a reload the edit is sent again and meets it again.
    for (const [key, edit] of pending) kept[edit.id] = { id: edit.id, key, value: edit.value, base: edit.base, at: edit.at };
    if (Object.keys(kept).length) localStorage.setItem(storageKey, JSON.stringify(kept));
    else localStorage.removeItem(storageKey);
    panel.dataset.pending = String(pending.size);
    const status = panel.querySelector("#assessment-save-status");
    const connected = socket && socket.readyState === WebSocket.OPEN;
    const conflicts = [...pending.values()].filter((edit) => edit.conflict).length;
    if (conflicts) status.textContent = `${conflicts} value(s) changed in another window: choose which to keep.`;
    else if (!pending.size) status.textContent = connected ? "All changes saved." : "";
    else if (connected) status.textContent = `Saving ${pending.size} change(s)…`;
    else status.textContent = `Offline: ${pending.size} change(s) will be saved when the connection is back.`;
  }

  function showMessage(key, text, { error = false } = {}) {
    const message = messageFor(key);
    const input = inputFor(key);
    if (!message) return;
    message.replaceChildren(text);
    message.classList.toggle("error", error);
    message.setAttribute("role", error ? "alert" : "status");
    if (input) input.toggleAttribute("aria-invalid", error);
  }

  // --- Values -------------------------------------------------------------------------------

  function readInput(input) {
    const raw = input.value.trim();
    return raw === "" ? null : raw;
  }

  function setInput(input, value) {
    if (value === null || value === undefined) input.value = "";
    else if (value === true) input.value = "yes";
    else if (value === false) input.value = "no";
    else input.value = String(value);
  }

  function same(a, b) {
    const normal = (v) => (v === true ? "yes" : v === false ? "no" : v === null || v === undefined ? "" : String(v));
    return normal(a) === normal(b);
  }

  function queue(input) {
    const key = input.dataset.key;
    clearTimeout(timers.get(key));
    const value = readInput(input);
    const previous = pending.get(key);
    if (previous && previous.conflict) return; // the clinician must choose first
    if (previous && same(previous.value, value)) return;
    if (previous) settled.add(previous.id); // replaced by this newer edit
    const edit = { id: crypto.randomUUID(), value, base: versions.get(key) || 0, at: Date.now() };
    pending.set(key, edit);
    showMessage(key, "Saving…");
    persist();
    send(key, edit);
  }

  function send(key, edit) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "set", id: edit.id, key, value: edit.value, base: edit.base }));
    }
  }

  function resendAll() {
    for (const [key, edit] of pending) if (!edit.conflict) send(key, edit);
  }

  function onSaved(frame) {
    versions.set(frame.key, frame.version);
    const input = inputFor(frame.key);
    if (input) input.dataset.version = String(frame.version);
    const edit = pending.get(frame.key);
    if (edit && edit.id === frame.id) {
      settle(frame.key);
      if (input && same(readInput(input), edit.value)) setInput(input, frame.value);
      showMessage(frame.key, "Saved");
    }
    persist();
  }

  function onRefused(frame) {
    if (!frame.key) return;
    const edit = pending.get(frame.key);
    if (edit && edit.id === frame.id) settle(frame.key);
    showMessage(frame.key, frame.message, { error: true });
    persist();
  }

  function onConflict(frame) {
    const key = frame.key;
    const edit = pending.get(key);
    if (!edit || edit.id !== frame.id) return;
    versions.set(key, frame.version);
    edit.conflict = { value: frame.value, version: frame.version, by: frame.by };
    persist();
    const theirs = displayValue(key, frame.value);
    const keepTheirs = button("Use theirs", () => {
      settle(key);
      const input = inputFor(key);
      if (input) {
        setInput(input, frame.value);
        input.dataset.version = String(frame.version);
      }
      showMessage(key, "Saved");
      persist();
    });
    const keepMine = button("Keep mine", () => {
      settled.add(edit.id);
      const mine = { id: crypto.randomUUID(), value: edit.value, base: versions.get(key) || 0, at: Date.now() };
      pending.set(key, mine);
      showMessage(key, "Saving…");
      persist();
      send(key, mine);
    });
    const message = messageFor(key);
    if (!message) return;
    message.replaceChildren(
      `${frame.by || "Someone"} changed this to “${theirs}” in another window. `,
      keepTheirs,
      " ",
      keepMine,
    );
    message.classList.add("error");
    message.setAttribute("role", "alert");
    keepTheirs.focus();
  }

  function onValue(frame) {
    // Every window hears every save, its own included: only newer versions matter.
    if ((versions.get(frame.key) || 0) >= frame.version) return;
    versions.set(frame.key, frame.version);
    const input = inputFor(frame.key);
    if (!input || pending.has(frame.key)) return;
    setInput(input, frame.value);
    input.dataset.version = String(frame.version);
    showMessage(frame.key, `Changed by ${frame.by}`);
    updateLeftRight();
  }

  function onState(frame) {
    for (const value of frame.values) {
      versions.set(value.key, value.version);
      const input = inputFor(value.key);
      if (!input) continue;
      input.dataset.version = String(value.version);
      if (!pending.has(value.key)) setInput(input, value.value);
    }
    if (frame.status !== "draft") {
      onLocked();
      return;
    }
    // After a reload: each test's measurement still running, or finished and not accepted.
    for (const measurement of frame.measurements || []) onMeasurement(measurement);
    resendAll();
    persist();
    updateLeftRight();
  }

  function onLocked() {
    closedForGood = true;
    panel.dataset.status = "completed";
    for (const input of inputs()) input.disabled = true;
    panel.querySelector("#assessment-save-status").textContent =
      "This assessment was completed in another window. Reload the page to see the findings.";
    if (socket) socket.close(1000);
  }

  function displayValue(key, value) {
    const input = inputFor(key);
    if (value === null || value === undefined) return "empty";
    if (input && input.tagName === "SELECT") {
      const option = [...input.options].find((o) => same(o.value, value));
      if (option) return option.textContent;
    }
    return String(value);
  }

  function button(text, onClick) {
    const element = document.createElement("button");
    element.type = "button";
    element.className = "secondary small";
    element.textContent = text;
    element.addEventListener("click", onClick);
    return element;
  }

  // --- Socket -------------------------------------------------------------------------------

  function connect() {
    if (closedForGood || !document.body.contains(panel)) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}${panel.dataset.socket}`);
    panel.dataset.connection = "connecting";
    socket.addEventListener("open", () => {
      attempt = 0;
      panel.dataset.connection = "open";
      persist();
    });
    socket.addEventListener("message", (event) => {
      const frame = JSON.parse(event.data);
      ({
        state: onState,
        saved: onSaved,
        refused: onRefused,
        conflict: onConflict,
        value: onValue,
        step: onStep,
        locked: onLocked,
        measurement: onMeasurement,
        accepted: onAccepted,
      }[frame.type] || (() => {}))(frame);
    });
    socket.addEventListener("close", (event) => {
      panel.dataset.connection = "closed";
      persist();
      if (closedForGood || [4401, 4403].includes(event.code) || !document.body.contains(panel)) return;
      const delay = Math.min(10000, 500 * 2 ** attempt) * (0.75 + Math.random() / 2);
      attempt += 1;
      retryTimer = setTimeout(connect, delay);
    });
  }

  // --- Steps --------------------------------------------------------------------------------

  const steps = [...panel.querySelectorAll("section.step")];
  const links = [...panel.querySelectorAll(".step-link")];

  function showStep(key, { tell = true } = {}) {
    // Leaving the step ends its measurement.
    if (tell && measuring && measuring.protocol !== key) stopMeasuring({ why: "step" });
    for (const step of steps) step.hidden = step.dataset.step !== key;
    for (const link of links) {
      if (link.dataset.step === key) link.setAttribute("aria-current", "step");
      else link.removeAttribute("aria-current");
    }
    if (tell && socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "step", protocol: key }));
    }
  }

  function onStep(frame) {
    if (frame.protocol) showStep(frame.protocol, { tell: false });
  }

  for (const link of links) {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      showStep(link.dataset.step);
      panel.querySelector(`#step-${link.dataset.step} h3`).focus({ preventScroll: false });
    });
  }
  for (const heading of panel.querySelectorAll("section.step h3")) heading.tabIndex = -1;
  const current = links.find((link) => link.getAttribute("aria-current") === "step");
  showStep(current ? current.dataset.step : steps[0].dataset.step, { tell: false });

  // --- Inputs -------------------------------------------------------------------------------

  // Saving happens as values are entered; the per-step Save buttons are for pages without JS.
  for (const save of panel.querySelectorAll(".step-save")) save.hidden = true;
  for (const form of panel.querySelectorAll(".step-form")) form.addEventListener("submit", (event) => event.preventDefault());
  for (const input of inputs()) {
    input.addEventListener("change", () => queue(input));
    if (input.tagName === "INPUT") {
      input.addEventListener("input", () => {
        clearTimeout(timers.get(input.dataset.key));
        timers.set(input.dataset.key, setTimeout(() => queue(input), TYPING_PAUSE_MS));
      });
    }
  }

  // --- Snapshots ----------------------------------------------------------------------------

  const video = document.getElementById("remote-video");
  for (const snap of panel.querySelectorAll(".snapshot-button")) {
    const status = snap.parentElement.querySelector(".snapshot-status");
    if (!video) continue;
    if (panel.dataset.imagesAllowed !== "true") {
      status.textContent = `${panel.dataset.clientName} has not agreed to images being kept: no snapshots.`;
      continue;
    }
    snap.hidden = false;
    snap.addEventListener("click", async () => {
      if (!video.videoWidth) {
        status.textContent = "No video from the client to take a snapshot of.";
        return;
      }
      const canvas = document.createElement("canvas");
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      canvas.getContext("2d").drawImage(video, 0, 0);
      const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.9));
      const form = new FormData();
      form.append("image", blob, "snapshot.jpg");
      form.append("protocol", snap.dataset.protocol);
      const token = snap.closest("form").elements.csrfmiddlewaretoken.value;
      status.textContent = "Saving the snapshot…";
      const response = await fetch(panel.dataset.snapshotUrl, {
        method: "POST",
        body: form,
        headers: { "X-CSRFToken": token },
        credentials: "same-origin",
      });
      const body = await response.json().catch(() => ({}));
      status.textContent = response.ok ? body.message : body.error || "The snapshot was not saved.";
    });
  }

  // --- Each compared measurement's means and difference, as the findings compare them -------
  // (one line per field the template marks with data-field; the mean of the recorded trials)

  function updateLeftRight() {
    for (const line of panel.querySelectorAll(".lr-summary")) {
      const step = line.closest("section.step").dataset.step;
      const { field, label, unit } = line.dataset;
      const trials = Number(line.dataset.trials || 1);
      const means = {};
      for (const side of ["left", "right"]) {
        const values = [];
        for (let trial = 1; trial <= trials; trial += 1) {
          const input = inputFor(`${step}.${side}.${trial}.${field}`);
          const value = input && input.value.trim() !== "" ? Number(input.value.replace(",", ".")) : NaN;
          if (Number.isFinite(value)) values.push(value);
        }
        if (values.length) means[side] = values.reduce((a, b) => a + b, 0) / values.length;
      }
      // Rounded for reading only; the findings compare the unrounded means.
      const shown = (value) => `${Math.round(value * 10) / 10}${unit === "°" || !unit ? unit : ` ${unit}`}`;
      const parts = Object.entries(means).map(([side, mean]) => `${side} ${shown(mean)}`);
      if (!parts.length) {
        line.hidden = true;
        continue;
      }
      let text = `Mean ${label}: ${parts.join(", ")}`;
      if ("left" in means && "right" in means) text += `; difference ${shown(Math.abs(means.left - means.right))}`;
      line.textContent = `${text}.`;
      line.hidden = false;
    }
  }
  panel.addEventListener("input", updateLeftRight);
  panel.addEventListener("change", updateLeftRight);

  // --- Measuring from the client's camera -----------------------------------------------------

  // The skeleton's bones, as indexes into the 12 points the server sends (shoulders, hips,
  // knees, ankles, heels, toes; left then right).
  const BONES = [[0, 1], [0, 2], [1, 3], [2, 3], [2, 4], [4, 6], [3, 5], [5, 7], [6, 8], [8, 10], [6, 10], [7, 9], [9, 11], [7, 11]];

  function measureBox(protocol) {
    return panel.querySelector(`.measure[data-protocol="${protocol}"]`);
  }

  function drawSkeleton(canvas, points, aspect) {
    const context = canvas.getContext("2d");
    context.clearRect(0, 0, canvas.width, canvas.height);
    if (!points) return;
    // Fit the frame's shape into the canvas.
    const height = canvas.height;
    const width = Math.min(canvas.width, height * (aspect || 0.5625));
    const left = (canvas.width - width) / 2;
    const x = (point) => left + point[0] * width;
    const y = (point) => point[1] * height;
    context.lineWidth = 3;
    context.strokeStyle = "#0b5cad";
    for (const [a, b] of BONES) {
      context.beginPath();
      context.moveTo(x(points[a]), y(points[a]));
      context.lineTo(x(points[b]), y(points[b]));
      context.stroke();
    }
    context.fillStyle = "#a3161b";
    for (const point of points) context.fillRect(x(point) - 2, y(point) - 2, 4, 4);
  }

  function onMeasurement(frame) {
    if (frame.state === "refused") {
      const box = measuring ? measuring.box : panel.querySelector("section.step:not([hidden]) .measure");
      if (box) {
        box.dataset.state = "idle";
        box.querySelector(".measure-result").hidden = false;
        box.querySelector(".measure-summary").textContent = frame.message;
        box.querySelector(".measure-start").hidden = false;
        box.querySelector(".measure-stop").hidden = true;
      }
      return;
    }
    const box = measureBox(frame.protocol);
    if (!box) return;
    box.dataset.measurement = frame.measurement;
    box.dataset.state = frame.state;
    const live = box.querySelector(".measure-live");
    const result = box.querySelector(".measure-result");
    if (frame.state === "waiting" || frame.state === "running") {
      measuring = { id: frame.measurement, protocol: frame.protocol, box };
      box.querySelector(".measure-start").hidden = true;
      box.querySelector(".measure-stop").hidden = false;
      live.hidden = false;
      result.hidden = true;
    }
    // Waiting, or running as a reloaded page learns it (the next reading follows).
    if (frame.state === "waiting" || (frame.state === "running" && !frame.framing)) {
      box.querySelector(".measure-value").textContent = frame.message;
      box.querySelector(".measure-hint").textContent = "";
      return;
    }
    if (frame.state === "running") {
      const { label, unit } = box.dataset;
      const shown = unit === "°" || !unit ? `${frame.value}${unit}` : `${frame.value} ${unit}`;
      let text = `${label}: —`;
      if (frame.value !== null) {
        text = `${label} (${frame.side}): ${shown} · confidence ${frame.confidence}`;
        if (frame.inRange === false) text += " · outside the test's range: it will not be proposed";
      } else if (frame.leftOut && frame.skeleton) text = `${label}: — (frame left out: ${frame.leftOut})`;
      box.querySelector(".measure-value").textContent = text;
      box.querySelector(".measure-hint").textContent = frame.framing.hint;
      box.querySelector(".measure-hint").classList.toggle("error", !frame.framing.ok);
      drawSkeleton(box.querySelector("canvas.skeleton"), frame.skeleton, frame.aspect);
      return;
    }
    // Ended or failed: the summary, and the values to accept.
    if (measuring && measuring.id === frame.measurement) measuring = null;
    box.querySelector(".measure-start").hidden = false;
    box.querySelector(".measure-stop").hidden = true;
    live.hidden = true;
    result.hidden = false;
    const summary = frame.summary || {};
    const values = summary.values || {};
    const unit = box.dataset.unit || "";
    const parts = Object.entries(values).map(([field, trials]) =>
      trials.map(([trial, value]) => `trial ${trial}: ${value}${unit === "°" || !unit ? unit : ` ${unit}`}`).join(", "),
    );
    // How far to trust it: frames used and why the others were left out, the confidence, and
    // values measured but not offered (outside the test's range), each with why.
    let frames = "";
    if (summary.frames) {
      frames = ` ${summary.frames_used} of ${summary.frames} frames used`;
      if ((frame.left_out || []).length) frames += `; left out: ${frame.left_out.join(", ")}`;
      frames += ".";
      if (summary.confidence !== null && summary.confidence !== undefined) frames += ` Confidence ${summary.confidence}.`;
      if (summary.sides_corrected) frames += ` Left and right put right in ${summary.sides_corrected} frames.`;
    }
    for (const item of summary.withheld || []) frames += ` Trial ${item.trial} not offered: ${item.reason}.`;
    const model = [frame.model, frame.version].filter(Boolean).join(" ");
    let text = `Nothing to record (${frame.reason}).`;
    if (frame.state === "failed") text = `The measurement failed: ${frame.reason}.`;
    if (parts.length) text = `Measured ${frame.side}${model ? ` with ${model}` : ""}: ${parts.join("; ")}.`;
    result.querySelector(".measure-summary").textContent = `${text}${frames}${summary.note ? ` ${summary.note}` : ""}`;
    result.querySelector(".measure-accept").hidden = parts.length === 0;
  }

  function onAccepted(frame) {
    setTimeout(updateLeftRight);
    const measuredWith = [frame.model, frame.version].filter(Boolean).join(" ");
    for (const value of frame.values) {
      versions.set(value.key, value.version);
      const input = inputFor(value.key);
      if (input) {
        setInput(input, value.value);
        input.dataset.version = String(value.version);
      }
      showMessage(value.key, measuredWith ? `Measured from video with ${measuredWith}` : "Measured from video");
    }
    const box = panel.querySelector(`.measure[data-measurement="${frame.measurement}"]`);
    if (box) {
      box.querySelector(".measure-accept").hidden = true;
      const refused = (frame.refused || []).map((item) => ` Trial ${item.trial} not recorded: ${item.message}`).join("");
      box.querySelector(".measure-summary").textContent += ` Accepted.${refused}`;
    }
  }

  function stopMeasuring({ why = "" } = {}) {
    if (measuring && socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "measure", action: "stop", measurement: measuring.id, why }));
    }
  }

  for (const box of panel.querySelectorAll(".measure")) {
    const start = box.querySelector(".measure-start");
    if (!start) continue;
    start.addEventListener("click", () => {
      const side = box.querySelector("input[type=radio]:checked").value;
      box.querySelector(".measure-result").hidden = true;
      socket.send(JSON.stringify({ type: "measure", action: "start", protocol: box.dataset.protocol, side }));
    });
    box.querySelector(".measure-stop").addEventListener("click", () => stopMeasuring());
    box.querySelector(".measure-accept").addEventListener("click", () => {
      socket.send(JSON.stringify({ type: "accept", measurement: box.dataset.measurement }));
    });
  }

  // --- Completing ---------------------------------------------------------------------------

  document.addEventListener(
    "submit",
    (event) => {
      if (event.target.id !== "complete-form" || !panel.contains(event.target)) return;
      const ask = pending.size
        ? null
        : window.confirm("Complete the assessment? The results will be locked; later changes become addenda.");
      if (pending.size || !ask) {
        event.preventDefault();
        event.stopImmediatePropagation();
        if (pending.size) {
          panel.querySelector("#assessment-save-status").textContent =
            "Wait until every change is saved before completing the assessment.";
        }
        return;
      }
      closedForGood = true;
      clearTimeout(retryTimer);
      if (socket) socket.close(1000);
    },
    true,
  );

  persist();
  connect();
}

function startAll() {
  const panel = document.getElementById("assessment");
  if (panel && panel.dataset.assessment) start(panel);
}

document.addEventListener("htmx:afterSettle", startAll);
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", startAll);
else startAll();
