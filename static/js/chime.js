// The waiting chime, shared by the clinician's sessions page and the room: one tone when a
// client enters the waiting room.
// Browsers start audio suspended until the page has been used (a click or a key), and a tone
// played meanwhile is silent, without an error; a page left open is often never clicked. So each
// page keeps one audio context, resumed on its first click or key press (or by a button the page
// offers: waitingChime.audio's state says whether one is needed). Until then the chime is
// skipped, and the page's title and banner alone tell.
window.waitingChime = (function () {
  "use strict";
  const audio = window.AudioContext ? new AudioContext() : null;

  function unlock() {
    if (audio && audio.state === "suspended") audio.resume();
  }

  function play() {
    if (!audio || audio.state !== "running") return;
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

  if (audio) {
    for (const type of ["pointerdown", "keydown"]) {
      document.addEventListener(type, unlock, { capture: true, passive: true });
    }
  }
  return { audio, unlock, play };
})();
