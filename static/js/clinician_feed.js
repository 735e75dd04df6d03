// The clinician's sessions page: shows live when a client is waiting, with a sound and a
// changed tab title when the tab is in the background.
(function () {
  "use strict";
  const table = document.getElementById("sessions");
  if (!table) return;
  const announcer = document.getElementById("feed-status");
  const originalTitle = document.title;
  let attempt = 0;

  // Sound. Browsers start audio suspended until the page has been used (a click or a key), and
  // a tone played meanwhile is silent, without an error; a dashboard left open is often never
  // clicked. So the page keeps one audio context, resumes it on the first click or key press,
  // and until then offers a button that does just that.
  const audio = window.AudioContext ? new AudioContext() : null;

  function unlockSound() {
    if (audio && audio.state === "suspended") audio.resume();
  }

  if (audio) {
    const soundOn = document.createElement("button");
    soundOn.type = "button";
    soundOn.className = "secondary";
    soundOn.textContent = "Turn on sound alerts";
    soundOn.addEventListener("click", unlockSound);
    const showButton = () => (soundOn.hidden = audio.state === "running");
    audio.addEventListener("statechange", showButton);
    showButton();
    announcer.after(soundOn);
    for (const type of ["pointerdown", "keydown"]) {
      document.addEventListener(type, unlockSound, { capture: true, passive: true });
    }
  }

  function beep() {
    if (!audio || audio.state !== "running") return; // the banner and the title still tell
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    const now = audio.currentTime;
    tone.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, now);
    gain.gain.exponentialRampToValueAtTime(0.001, now + 0.6);
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(now + 0.6);
  }

  function update(event) {
    const row = table.querySelector(`tr[data-appointment="${event.appointment}"]`);
    if (!row) return;
    row.dataset.status = event.status;
    row.querySelector(".status").textContent = event.status_label;
    if (event.status === "waiting") {
      announcer.textContent = `${event.client} is waiting.`;
      if (document.hidden) document.title = `(Waiting) ${originalTitle}`;
      beep();
    } else if (announcer.textContent.startsWith(event.client)) {
      announcer.textContent = "";
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/clinic/feed/`);
    socket.addEventListener("open", () => {
      attempt = 0;
      table.dataset.live = "true";
    });
    socket.addEventListener("message", (message) => update(JSON.parse(message.data)));
    socket.addEventListener("close", (event) => {
      table.dataset.live = "false";
      if (event.code >= 4400 && event.code < 4500) return;
      const delay = Math.min(15000, 1000 * 2 ** attempt) * (0.75 + Math.random() / 2);
      attempt += 1;
      setTimeout(connect, delay);
    });
  }

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) document.title = originalTitle;
  });
  connect();
})();
