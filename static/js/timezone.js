// Tell the server the browser's time zone once, so times are shown on the visitor's clock.
// Without JavaScript the page offers a time zone picker instead.
(function () {
  "use strict";
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (error) {
    return;
  }
  if (!zone || !/^[A-Za-z0-9_+\-\/]+$/.test(zone)) {
    return;
  }
  var known = document.cookie.split("; ").some(function (part) {
    return part.indexOf("tz=") === 0;
  });
  if (known) {
    return;
  }
  var secure = location.protocol === "https:" ? "; secure" : "";
  document.cookie = "tz=" + zone + "; path=/; max-age=31536000; samesite=lax" + secure;
  var shownIn = document.body.getAttribute("data-time-zone-default");
  if (shownIn && shownIn !== zone) {
    location.reload();
  }
})();
