// The error summary (templates/includes/error_summary.html), as GOV.UK's design system does it:
// focus moves to it when the page loads, so a screen reader reads the problems first; a link in
// it moves focus to its field and shows the field's question (label or legend) with it, which a
// plain jump to the input would scroll out of sight.
(function () {
  "use strict";
  function question(field) {
    var group = field.closest("fieldset");
    if (group && group.querySelector("legend")) return group.querySelector("legend");
    return (field.id && document.querySelector('label[for="' + CSS.escape(field.id) + '"]')) || field;
  }
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.querySelector("[data-error-summary]");
    if (!summary) return;
    summary.focus();
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      if (!link) return;
      var field = document.getElementById(link.getAttribute("href").slice(1));
      if (!field) return;
      event.preventDefault();
      question(field).scrollIntoView();
      field.focus({ preventScroll: true });
    });
  });
})();
