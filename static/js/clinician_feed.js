// The clinician's sessions page: shows live when a client is waiting, with a sound and a
// changed tab title when the tab is in the background.
(function () {
  "use strict";
  const table = document.getElementById("sessions");
  if (!table) return;
  const announcer = document.getElementById("feed-status");
  const originalTitle = document.title;
  let attempt = 0;

  // The chime (static/js/chime.js) sounds only once the page has been used; until then the
  // page offers a button that allows it.
  const { audio, unlock, play: beep } = window.waitingChime;
  if (audio) {
    const soundOn = document.createElement("button");
    soundOn.type = "button";
    soundOn.className = "secondary";
    soundOn.textContent = "Turn on sound alerts";
    soundOn.addEventListener("click", unlock);
    const showButton = () => (soundOn.hidden = audio.state === "running");
    audio.addEventListener("statechange", showButton);
    showButton();
    announcer.after(soundOn);
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
