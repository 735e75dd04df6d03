// Pages opened from an email's one-click links submit their form by themselves, so one click
// records the answer. Link checkers of mail services fetch links without running scripts, so
// they record nothing; without JavaScript the button is there to press.
for (const form of document.querySelectorAll("form[data-auto-submit]")) {
  form.querySelector("button").textContent = "Saving…";
  form.requestSubmit();
}
