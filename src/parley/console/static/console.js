/* Parley console: live updates (server-sent events), deadline countdowns, small helpers.
   Everything here is an enhancement: every page works as plain HTML forms and links. */
(function () {
  "use strict";
  var body = document.body;
  var serverNow = Date.parse(body.dataset.serverNow || "");
  // The node's clock decides deadlines; count down against it, not against this PC's clock.
  var skew = isNaN(serverNow) ? 0 : serverNow - Date.now();

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function span(ms) {
    var s = Math.floor(Math.abs(ms) / 1000);
    var d = Math.floor(s / 86400); s -= d * 86400;
    var h = Math.floor(s / 3600); s -= h * 3600;
    var m = Math.floor(s / 60); s -= m * 60;
    var text = pad(h) + ":" + pad(m) + ":" + pad(s);
    return d ? (body.dataset.tDays || "{n} d").replace("{n}", d) + " " + text : text;
  }

  function tick() {
    var now = Date.now() + skew;
    var items = document.querySelectorAll(".countdown[data-due]");
    for (var i = 0; i < items.length; i++) {
      var el = items[i];
      var due = Date.parse(el.dataset.due);
      if (isNaN(due)) continue;
      var left = due - now;
      if (left > 0) {
        el.textContent = (body.dataset.tLeft || "{time} left").replace("{time}", span(left));
        el.classList.toggle("countdown-soon", left < 5 * 60 * 1000);
        el.classList.remove("countdown-overdue");
      } else {
        el.textContent = (body.dataset.tOverdue || "overdue {time}").replace("{time}", span(left));
        el.classList.add("countdown-overdue");
        el.classList.remove("countdown-soon");
      }
    }
  }
  tick();
  window.setInterval(tick, 1000);
  document.addEventListener("htmx:afterSwap", tick);

  // "Now (UTC)" next to time inputs: datetime-local has no zone, the form says UTC.
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest ? ev.target.closest(".now-button") : null;
    if (!btn) return;
    var input = document.getElementById(btn.dataset.target);
    if (input) input.value = new Date(Date.now() + skew).toISOString().slice(0, 19);
  });

  // Live updates: each event from the node asks the fragments on the page to refresh.
  if (body.dataset.live === "1" && window.EventSource) {
    var banner = document.getElementById("connection");
    var status = document.getElementById("live-status");
    var pending = null;
    body.dataset.liveEvents = "0";
    var source = new EventSource("/console/events");
    var links = {};
    // The console shows every time in UTC on a 24-hour clock, in the page's language.
    var clock = function () {
      return new Date().toLocaleTimeString(document.documentElement.lang || undefined,
        { timeZone: "UTC", hour12: false }) + " UTC";
    };
    var refresh = function (ev) {
      var data = {};
      try { data = JSON.parse(ev.data); } catch (e) { data = {}; }
      if (data.event === "link") {
        // Link tests run on a schedule; only a change of state is news.
        var key = data.channel + " " + data.peer;
        var seen = links[key];
        links[key] = data.state;
        if (seen === data.state || seen === undefined && data.state === "UP") return;
      }
      body.dataset.liveEvents = String(Number(body.dataset.liveEvents || "0") + 1);
      body.dataset.lastEvent = data.event || "";
      if (pending) window.clearTimeout(pending);
      pending = window.setTimeout(function () {
        pending = null;
        if (window.htmx) window.htmx.trigger(body, "parley-update");
        if (status) status.textContent = (body.dataset.tUpdate || "Updated") + " " + clock();
      }, 250);
    };
    source.onmessage = refresh;
    source.onopen = function () { if (banner) banner.hidden = true; body.dataset.live = "1"; body.dataset.liveOpen = "1"; };
    source.onerror = function () { if (banner) banner.hidden = false; body.dataset.liveOpen = "0"; };
    window.addEventListener("beforeunload", function () { source.close(); });
  }
})();
