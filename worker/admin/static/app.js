// regnotify console: refreshes the status page's live part every 3 s.
// Everything else works without JavaScript (plain forms and links).
"use strict";
(function () {
  var live = document.getElementById("live");
  if (!live) { return; }
  var url = live.getAttribute("data-refresh");
  function refresh() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.status === 401) { window.location = "/login"; return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) { if (html !== null) { live.innerHTML = html; } })
      .catch(function () { /* keep the last view; retried next tick */ });
  }
  window.setInterval(refresh, 3000);
})();
