// Mayfly console: the live parts. The alerts page follows the console's
// event stream and reloads its list, rendered by the server, on each change.
"use strict";
(function () {
  var live = document.getElementById("live");
  if (!live || !window.EventSource) return;
  var list = document.getElementById("alert-list");
  var pending = false;
  function reload() {
    if (pending) return;
    pending = true;
    fetch(live.dataset.list, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
      .then(function (html) { list.innerHTML = html; live.dataset.state = "live"; })
      .catch(function () { live.dataset.state = "stale"; })
      .finally(function () { pending = false; });
  }
  var es = new EventSource(live.dataset.src);
  es.addEventListener("ready", function () { live.dataset.state = "live"; reload(); });
  es.addEventListener("change", reload);
  es.onerror = function () { live.dataset.state = "stale"; };
})();
