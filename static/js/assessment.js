// The clinician's guided-assessment panel (templates/assessments/_panel.html).
//
// Every value is saved over a WebSocket as it is entered. An edit carries the version of the
// value the page last saw; the server refuses it as a conflict if another window changed the
// value meanwhile, and the page asks which to keep. Edits not yet confirmed are kept in
// localStorage and sent again after a dropped connection or a reload, so nothing typed is lost.
// Each field shows where its value is (data-state and its message): saved, saving, offline
// (waiting to be sent), refused (the server's reason; the typed value stays, is not stored and
// is counted nowhere) or conflict. The means under the tables and the findings are the
// server's stored values only. Opening a step shows its instructions on the client's screen.

const TYPING_PAUSE_MS = 700;
const panels = new WeakSet();

function start(panel) {
  if (panels.has(panel) || panel.dataset.status !== "draft") return;
  panels.add(panel);

  const storageKey = `assessment:${panel.dataset.assessment}:pending`;
  const versions = new Map();
  const timers = new Map();
  // key -> {id, value, base, at, conflict, refused}: this page's edits not yet saved, starting
  // with the newest stored edit of each field (from before a reload, or from another tab). A
  // refused edit stays here (and in storage) until the field is changed: it is not saved.
  const pending = new Map();
  for (const edit of Object.values(stored()).sort((a, b) => (a.at || 0) - (b.at || 0))) {
    pending.set(edit.key, { id: edit.id, value: edit.value, base: edit.base, at: edit.at });
  }
  // Edits this page has finished with (saved, replaced, or given up for another's).
  const settled = new Set();
  // key -> the value the server has stored: what the means count, never the inputs' text.
  const onServer = new Map();
  let socket = null;
  let attempt = 0;
  let retryTimer = null;
  let closedForGood = false;
  let measuring = null; // the measurement running: {id, protocol, box}
  // A step opened while the socket was closed: sent when it opens.
  let unsentStep = null;

  const inputs = () => panel.querySelectorAll("[data-key]");
  const inputFor = (key) => document.getElementById(`f-${key}`);
  const messageFor = (key) => document.getElementById(`m-${key}`);
  const connected = () => socket !== null && socket.readyState === WebSocket.OPEN;

  for (const input of inputs()) {
    versions.set(input.dataset.key, Number(input.dataset.version || 0));
    onServer.set(input.dataset.key, readInput(input));
  }
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

  function stateOf(key) {
    const edit = pending.get(key);
    if (!edit) return "saved";
    if (edit.conflict) return "conflict";
    if (edit.refused) return "refused";
    return connected() ? "saving" : "offline";
  }

  const STATE_TEXT = { saving: "Saving…", offline: "Waiting to be sent", saved: "Saved" };

  // A field's state on its input (data-state, aria-invalid) and in its message (which the
  // input names in aria-describedby). A field that was saved all along keeps its note.
  function render(key) {
    const input = inputFor(key);
    const message = messageFor(key);
    if (!input || !message) return;
    const state = stateOf(key);
    const before = input.dataset.state || "saved";
    input.dataset.state = state;
    // "true", not an empty attribute: assistive technology reads aria-invalid="" as valid.
    if (state === "refused") input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
    if (state === "conflict") return; // its message holds the choice (onConflict)
    if (state === "saved" && before === "saved") return;
    const text = state === "refused" ? `Not saved. ${pending.get(key).refused}` : STATE_TEXT[state];
    // Only a refusal interrupts; the panel's status line announces the rest politely.
    if (state === "refused") message.setAttribute("role", "alert");
    else message.removeAttribute("role");
    message.classList.toggle("error", state === "refused");
    if (message.textContent !== text) message.replaceChildren(text);
  }

  // A note under a saved field ("Changed by …", "Measured from video").
  function showMessage(key, text) {
    const message = messageFor(key);
    if (!message || stateOf(key) !== "saved") return;
    message.removeAttribute("role");
    message.classList.remove("error");
    message.replaceChildren(text);
  }

  function persist() {
    const kept = stored();
    for (const id of Object.keys(kept)) if (settled.has(id)) delete kept[id];
    // A conflict is not kept: after a reload the edit is sent again and meets it again. A
    // refusal is not kept either: the edit is sent again and the server says why again.
    for (const [key, edit] of pending) kept[edit.id] = { id: edit.id, key, value: edit.value, base: edit.base, at: edit.at };
    if (Object.keys(kept).length) localStorage.setItem(storageKey, JSON.stringify(kept));
    else localStorage.removeItem(storageKey);
    panel.dataset.pending = String(pending.size);
    for (const key of pending.keys()) render(key);
    showStatus();
    updateLeftRight();
  }

  // The panel's status line: "All changes saved." only when every field is.
  function showStatus() {
    const status = panel.querySelector("#assessment-save-status");
    const states = [...pending.keys()].map(stateOf);
    const count = (state) => states.filter((s) => s === state).length;
    const [conflicts, refused, saving, offline] = ["conflict", "refused", "saving", "offline"].map(count);
    const parts = [];
    if (conflicts) parts.push(`${conflicts} value(s) changed in another window: choose which to keep.`);
    if (refused) parts.push(refused === 1 ? "1 value not saved: see the field." : `${refused} values not saved: see the fields.`);
    if (saving) parts.push(`Saving ${saving} change(s)…`);
    if (offline) parts.push(`Offline: ${offline} change(s) will be saved when the connection is back.`);
    const text = parts.length ? parts.join(" ") : connected() ? "All changes saved." : "";
    if (status.textContent !== text) status.textContent = text;
    // Under it, a link to each field not saved (it may be in a step not open now).
    const list = panel.querySelector("#assessment-unsaved");
    const keys = [...pending.keys()].filter((key) => ["conflict", "refused"].includes(stateOf(key)));
    list.replaceChildren(
      ...keys.map((key) => {
        const link = document.createElement("a");
        link.href = `#f-${key}`;
        link.textContent = fieldName(key);
        link.addEventListener("click", (event) => {
          event.preventDefault();
          showStep(key.split(".")[0]);
          inputFor(key).focus();
        });
        const item = document.createElement("li");
        item.append(link);
        return item;
      }),
    );
    list.hidden = keys.length === 0;
    // As on every form of the site (GOV.UK's pattern), the page's title says there are errors.
    const prefix = "Error: ";
    if (keys.length && !document.title.startsWith(prefix)) document.title = prefix + document.title;
    if (!keys.length && document.title.startsWith(prefix)) document.title = document.title.slice(prefix.length);
  }

  function fieldName(key) {
    const input = inputFor(key);
    const step = panel.querySelector(`#step-${key.split(".")[0]}-heading`);
    const test = step ? step.firstChild.textContent.replace(/^\d+\.\s*/, "").trim() : "";
    return [test, input ? input.getAttribute("aria-label") : key].filter(Boolean).join(": ");
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
    // Back to what is stored: nothing to send (this also clears a refusal).
    if (!previous && same(onServer.get(key), value)) return;
    if (previous) settled.add(previous.id); // replaced by this newer edit
    const edit = { id: crypto.randomUUID(), value, base: versions.get(key) || 0, at: Date.now() };
    pending.set(key, edit);
    persist();
    send(key, edit);
  }

  function send(key, edit) {
    if (connected()) {
      socket.send(JSON.stringify({ type: "set", id: edit.id, key, value: edit.value, base: edit.base }));
    }
  }

  function resendAll() {
    for (const [key, edit] of pending) if (!edit.conflict && !edit.refused) send(key, edit);
  }

  function onSaved(frame) {
    versions.set(frame.key, frame.version);
    onServer.set(frame.key, frame.value);
    const input = inputFor(frame.key);
    if (input) input.dataset.version = String(frame.version);
    const edit = pending.get(frame.key);
    if (edit && edit.id === frame.id) {
      settle(frame.key);
      if (input && same(readInput(input), edit.value)) setInput(input, frame.value);
      render(frame.key);
    }
    persist();
  }

  function onRefused(frame) {
    const edit = frame.key ? pending.get(frame.key) : null;
    // Only the edit still in the field: a newer one is on its way.
    if (!edit || edit.id !== frame.id) return;
    edit.refused = frame.message;
    persist();
  }

  function onConflict(frame) {
    const key = frame.key;
    const edit = pending.get(key);
    if (!edit || edit.id !== frame.id) return;
    versions.set(key, frame.version);
    onServer.set(key, frame.value);
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
      render(key);
      persist();
    });
    const keepMine = button("Keep mine", () => {
      settled.add(edit.id);
      const mine = { id: crypto.randomUUID(), value: edit.value, base: versions.get(key) || 0, at: Date.now() };
      pending.set(key, mine);
      persist();
      send(key, mine);
    });
    const message = messageFor(key);
    if (!message) return;
    message.setAttribute("role", "alert");
    message.classList.add("error");
    message.replaceChildren(
      `${frame.by || "Someone"} changed this to “${theirs}” in another window. `,
      keepTheirs,
      " ",
      keepMine,
    );
    keepTheirs.focus();
  }

  function onValue(frame) {
    // Every window hears every save, its own included: only newer versions matter.
    if ((versions.get(frame.key) || 0) >= frame.version) return;
    versions.set(frame.key, frame.version);
    onServer.set(frame.key, frame.value);
    const input = inputFor(frame.key);
    updateLeftRight();
    if (!input || pending.has(frame.key)) return;
    setInput(input, frame.value);
    input.dataset.version = String(frame.version);
    showMessage(frame.key, `Changed by ${frame.by}`);
  }

  function onState(frame) {
    for (const value of frame.values) {
      versions.set(value.key, value.version);
      onServer.set(value.key, value.value);
      const input = inputFor(value.key);
      if (!input) continue;
      input.dataset.version = String(value.version);
      if (!pending.has(value.key)) setInput(input, value.value);
    }
    if (frame.status !== "draft") {
      onLocked();
      return;
    }
    if (frame.findings) onFindings(frame.findings);
    // A step opened while the socket was closed reaches the client now. (The state's own step
    // is not applied: it may be older than a step clicked as the socket opened.)
    if (unsentStep !== null) showStep(unsentStep);
    // After a reload: each test's measurement still running, or finished and not accepted.
    for (const measurement of frame.measurements || []) onMeasurement(measurement);
    resendAll();
    persist();
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

  // --- Findings so far ----------------------------------------------------------------------

  // The server derives them after every save (the rules of completion) and sends the list as
  // the panel renders it to every window; a push older than the list shown is dropped.
  const findingsBox = panel.querySelector("#findings-live");
  const findingsNews = panel.querySelector("#findings-announce");

  function onFindings(frame) {
    if (!findingsBox || frame.revision <= Number(findingsBox.dataset.revision || -1)) return;
    const titles = () =>
      new Map([...findingsBox.querySelectorAll("[data-finding]")].map((item) => [item.dataset.finding, item.querySelector("strong").textContent]));
    const before = titles();
    findingsBox.innerHTML = frame.html;
    findingsBox.dataset.revision = String(frame.revision);
    const after = titles();
    // Said politely and briefly; the focus stays where the clinician is typing.
    const added = [...after].filter(([identity]) => !before.has(identity)).map(([, title]) => title);
    const gone = [...before].filter(([identity]) => !after.has(identity)).map(([, title]) => title);
    const news = [];
    if (added.length) news.push(`New finding: ${added.join("; ")}.`);
    if (gone.length) news.push(`No longer flagged: ${gone.join("; ")}.`);
    if (news.length) findingsNews.textContent = news.join(" ");
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
        findings: onFindings,
        step: onStep,
        locked: onLocked,
        measurement: onMeasurement,
        accepted: onAccepted,
      })[frame.type]?.(frame);
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
    if (!tell) return;
    // The client's screen follows; a step opened before the socket is open goes when it opens.
    unsentStep = key;
    if (connected()) {
      socket.send(JSON.stringify({ type: "step", protocol: key }));
      unsentStep = null;
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
  // (one line per field the template marks with data-field; the mean of the stored trials:
  // a value not saved, refused or still on its way, is not counted)

  function updateLeftRight() {
    for (const line of panel.querySelectorAll(".lr-summary")) {
      const step = line.closest("section.step").dataset.step;
      const { field, label, unit } = line.dataset;
      const trials = Number(line.dataset.trials || 1);
      const means = {};
      let unsaved = 0;
      for (const side of ["left", "right"]) {
        const values = [];
        for (let trial = 1; trial <= trials; trial += 1) {
          const key = `${step}.${side}.${trial}.${field}`;
          const value = onServer.get(key);
          const number = value === null || value === undefined ? NaN : Number(String(value).replace(",", "."));
          if (Number.isFinite(number)) values.push(number);
          if (["refused", "offline", "conflict"].includes(stateOf(key))) unsaved += 1;
        }
        if (values.length) means[side] = values.reduce((a, b) => a + b, 0) / values.length;
      }
      // Rounded for reading only; the findings compare the unrounded means.
      const shown = (value) => `${Math.round(value * 10) / 10}${unit === "°" || !unit ? unit : ` ${unit}`}`;
      const parts = Object.entries(means).map(([side, mean]) => `${side} ${shown(mean)}`);
      if (!parts.length && !unsaved) {
        line.hidden = true;
        continue;
      }
      let text = parts.length ? `Mean ${label}: ${parts.join(", ")}` : `Mean ${label}: none saved yet`;
      if ("left" in means && "right" in means) text += `; difference ${shown(Math.abs(means.left - means.right))}`;
      text += ".";
      if (unsaved) text += ` Not counted: ${unsaved === 1 ? "1 value" : `${unsaved} values`} not saved.`;
      if (line.textContent !== text) line.textContent = text;
      line.hidden = false;
    }
  }

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
      onServer.set(value.key, value.value);
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
        // A refused value would be lost without a word: it is corrected or cleared first.
        if (pending.size) {
          const refused = [...pending.keys()].some((key) => stateOf(key) === "refused");
          panel.querySelector("#assessment-save-status").textContent = refused
            ? "Correct or clear the values not saved before completing the assessment."
            : "Wait until every change is saved before completing the assessment.";
          // An invalid submit: focus goes to the list of values not saved, each a link to its
          // field (the panel's error summary).
          const unsaved = panel.querySelector("#assessment-unsaved");
          if (refused && !unsaved.hidden) unsaved.querySelector("a").focus();
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
