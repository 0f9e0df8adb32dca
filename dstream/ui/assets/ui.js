// Spate's streaming page: asks the server, every data-poll milliseconds, for the
// live part of the page it shows, and swaps it in when it changed (the server
// answers 204 No Content while its version is the same).
(function () {
  "use strict";
  var live = document.getElementById("live");
  var conn = document.getElementById("conn");
  if (!live) {
    return;
  }
  var version = live.getAttribute("data-version") || "";
  var every = Number(live.getAttribute("data-poll")) || 1000;

  function show(state, text) {
    if (conn) {
      conn.className = state;
      conn.textContent = text;
    }
  }

  function url() {
    var q = new URLSearchParams(location.search);
    q.set("fragment", "1");
    q.set("v", version);
    return location.pathname + "?" + q.toString();
  }

  function down() {
    show("down", "disconnected: is the job still running?");
  }

  // A failed request (the job stopped) says so and tries again; a failure of
  // this script itself is not caught: the console shows it.
  function poll() {
    fetch(url(), { cache: "no-store" })
      .then(function (r) {
        if (r.status === 204) {
          show("live", "live");
          return null;
        }
        if (!r.ok) {
          show("down", "the server answered " + r.status);
          return null;
        }
        var v = r.headers.get("X-Spate-Version");
        return r.text().then(function (html) {
          live.innerHTML = html;
          if (v) {
            version = v;
            live.setAttribute("data-version", v);
          }
          show("live", "live");
        }, down);
      }, down)
      .finally(function () {
        setTimeout(poll, every);
      });
  }

  setTimeout(poll, every);
})();
