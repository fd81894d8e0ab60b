/* Parley console: the alert bar on every page (docs/watch.md, "Alerting in the console").

   The bar is its own element (#alert-bar), filled from GET /console/alerts; nothing here
   touches the page's main content, so an alert never costs a half-written draft. It is
   re-read when the node's event stream says anything happened (console.js counts events on
   <body data-live-events>), when the stream comes back after a break (data-live-open goes
   0 -> 1: an event sent during the break is not replayed, so the state is read afresh), when
   the tab becomes visible, when the next deadline passes, and every 30 s as a backstop.
   The sound repeats while the node says so (data-sound), until acknowledged or muted; the
   mute lives on the node, per operator. */
(function () {
  "use strict";
  var bar = document.getElementById("alert-bar");
  if (!bar || !window.fetch) return;
  var body = document.body;
  var audio = document.getElementById("alert-audio");
  var announce = document.getElementById("alert-announce");
  var baseTitle = document.title;
  var REPEAT_MS = 12000;
  var BACKSTOP_MS = 30000;
  var MAX_WAIT_MS = 6 * 3600 * 1000; // setTimeout overflows past 2^31 ms
  var NOTIFIED_KEEP = 200;
  var serverNow = Date.parse(body.dataset.serverNow || "");
  var skew = isNaN(serverNow) ? 0 : serverNow - Date.now();

  // What the page did, for people debugging a console and for the browser test.
  var seen = window.parleyAlerts = { reads: 0, plays: 0, refused: 0, notices: 0, total: 0, sound: false, keys: [] };
  var soundTimer = null;
  var dueTimer = null;
  var busy = false;
  var again = false;
  var known = null; // keys of the items shown, to tell what is new

  function here() { return location.pathname + location.search; }

  function read() {
    if (busy) { again = true; return; }
    busy = true;
    fetch("/console/alerts?from=" + encodeURIComponent(here()), {
      credentials: "same-origin",
      cache: "no-store",
      headers: { "X-Requested-With": "fetch" }
    }).then(function (r) {
      // A lapsed session answers with the log-in page: leave the bar as it is.
      return r.ok && !r.redirected ? r.text() : null;
    }).then(function (html) {
      if (html !== null) show(html);
    }).catch(function () { /* the stream's banner already says the node is unreachable */ })
      .then(function () {
        busy = false;
        if (again) { again = false; read(); }
      });
  }

  var shown = null;

  function show(html) {
    // Replaced only when it changed, so a read never closes the mute menu under her hand.
    if (html !== shown) bar.innerHTML = html;
    shown = html;
    var st = document.getElementById("alert-state");
    if (!st) return;
    seen.reads += 1;
    var total = Number(st.dataset.total || "0");
    seen.total = total;
    bar.hidden = total === 0;
    body.classList.toggle("has-alerts", total > 0);
    document.title = total ? "(" + total + ") " + st.dataset.topLabel + " — " + baseTitle : baseTitle;

    var items = bar.querySelectorAll("a.alert-item");
    var keys = [];
    var fresh = [];
    for (var i = 0; i < items.length; i++) {
      var id = items[i].dataset.kind + ":" + items[i].dataset.key;
      keys.push(id);
      if (known !== null && known.indexOf(id) < 0) fresh.push(items[i]);
    }
    seen.keys = keys;
    if (fresh.length && announce) {
      announce.textContent = fresh.map(function (a) { return a.dataset.label + ": " + a.textContent.trim(); }).join("; ");
    }
    var first = known === null;
    known = keys;

    var sound = st.dataset.sound === "1";
    seen.sound = sound;
    var freshSounding = fresh.some(function (a) { return a.dataset.notice === "1"; });
    if (!sound) {
      stopSound();
    } else if (soundTimer === null || freshSounding) {
      startSound();
    }
    // Offered again on a re-drawn bar only while the browser still refuses: once the officer
    // enabled the sound, a later read must not bring the button back.
    if (sound && blocked) showEnable(true);

    if (st.dataset.notify === "1") notify(items, first);
    schedule(st.dataset.nextDue);
  }

  // --- sound --------------------------------------------------------------------------------
  var blocked = false; // the last play() was refused for want of a user gesture

  function ring() {
    if (!audio) return;
    try { audio.currentTime = 0; } catch (e) { /* not loaded yet */ }
    var played = audio.play();
    if (played && played.then) {
      played.then(function () {
        seen.plays += 1;
        blocked = false;
        showEnable(false);
      }, function (err) {
        seen.lastError = err ? err.name : "";
        // Autoplay refused until the officer interacts with the page: offer a button. (An
        // AbortError only means a newer play() or a reload of the source came first.)
        if (!err || err.name !== "NotAllowedError") return;
        seen.refused += 1;
        blocked = true;
        showEnable(true);
      });
    }
  }

  function startSound() {
    if (soundTimer !== null) window.clearInterval(soundTimer);
    ring();
    soundTimer = window.setInterval(ring, REPEAT_MS);
  }

  function stopSound() {
    if (soundTimer !== null) window.clearInterval(soundTimer);
    soundTimer = null;
    if (audio) audio.pause();
  }

  function showEnable(on) {
    var btn = document.getElementById("alert-enable-sound");
    var note = document.getElementById("alert-sound-blocked");
    if (btn) btn.hidden = !on;
    if (note) note.hidden = !on;
  }

  // --- desktop notices (opt-in, per operator) --------------------------------------------------
  function notified() {
    try { return JSON.parse(localStorage.getItem("parley-notified") || "[]"); } catch (e) { return []; }
  }

  function notify(items, first) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    var done = notified();
    for (var i = 0; i < items.length; i++) {
      var a = items[i];
      if (a.dataset.notice !== "1") continue;
      var id = a.dataset.kind + ":" + a.dataset.key;
      if (done.indexOf(id) >= 0) continue;
      done.push(id);
      var n = new Notification(a.dataset.label, { body: a.textContent.trim(), tag: id });
      n.onclick = (function (href, note) {
        return function () {
          window.focus();
          note.close();
          window.location.assign(href); // a draft is kept in sessionStorage (below)
        };
      })(a.getAttribute("href"), n);
      seen.notices += 1;
    }
    try { localStorage.setItem("parley-notified", JSON.stringify(done.slice(-NOTIFIED_KEEP))); } catch (e) { /* full */ }
  }

  var notifyForm = document.getElementById("notify-form");
  if (notifyForm) {
    notifyForm.addEventListener("submit", function (ev) {
      var asked = ev.submitter ? ev.submitter.value : "";
      if (asked !== "on") return;
      ev.preventDefault();
      var denied = document.getElementById("notify-denied");
      if (!("Notification" in window)) { if (denied) denied.hidden = false; return; }
      // The browser asks only on a click: this one.
      Notification.requestPermission().then(function (permission) {
        if (permission !== "granted") { if (denied) denied.hidden = false; return; }
        var field = document.createElement("input");
        field.type = "hidden";
        field.name = "notify";
        field.value = "on";
        notifyForm.appendChild(field);
        notifyForm.submit();
      });
    });
  }

  // --- the bar's own forms: posted in place, never a navigation ------------------------------------
  bar.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.classList || !form.classList.contains("alert-form")) return;
    ev.preventDefault();
    var data = new URLSearchParams(new FormData(form));
    fetch(form.getAttribute("action"), {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: { "X-Requested-With": "fetch", "X-CSRF-Token": data.get("csrf") || "" },
      body: data
    }).then(function (r) {
      return r.ok && !r.redirected ? r.text() : null;
    }).then(function (html) {
      if (html !== null) { show(html); return; }
      var failed = document.getElementById("alert-failed");
      if (failed) failed.hidden = false;
    });
  });

  bar.addEventListener("click", function (ev) {
    var btn = ev.target.closest ? ev.target.closest("#alert-enable-sound") : null;
    if (btn) ring(); // a click is the interaction the browser waits for
  });

  // --- when to read the state again ----------------------------------------------------------------
  function schedule(nextDue) {
    if (dueTimer !== null) window.clearTimeout(dueTimer);
    dueTimer = null;
    var due = Date.parse(nextDue || "");
    if (isNaN(due)) return;
    var wait = Math.min(Math.max(due - (Date.now() + skew) + 1000, 1000), MAX_WAIT_MS);
    dueTimer = window.setTimeout(read, wait);
  }

  var liveOpen = body.dataset.liveOpen;
  var pending = null;
  new MutationObserver(function () {
    var open = body.dataset.liveOpen;
    var back = liveOpen === "0" && open === "1"; // reconnected after a break
    liveOpen = open;
    if (pending !== null) window.clearTimeout(pending);
    pending = window.setTimeout(function () { pending = null; read(); }, back ? 0 : 100);
  }).observe(body, { attributes: true, attributeFilter: ["data-live-open", "data-live-events"] });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") read();
  });
  window.setInterval(read, BACKSTOP_MS);
  read();

  // --- a draft survives following an alert ---------------------------------------------------------
  // The compose form is saved to sessionStorage (this tab only, gone with it) as it is typed
  // and put back when the same form is opened again, e.g. after reading the FLASH.
  var DRAFT = "parley-draft";
  var compose = document.getElementById("compose-form");

  function formKey(form) {
    var params = [];
    var hidden = form.querySelectorAll("input[type=hidden]");
    for (var i = 0; i < hidden.length; i++) {
      if (hidden[i].name && hidden[i].name !== "csrf") params.push([hidden[i].name, hidden[i].value]);
    }
    params.sort();
    return new URLSearchParams(params).toString();
  }

  function loadDraft() {
    try { return JSON.parse(sessionStorage.getItem(DRAFT) || "null"); } catch (e) { return null; }
  }

  function saveDraft() {
    var fields = {};
    var els = compose.elements;
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      if (!el.id || !el.name || el.type === "hidden" || el.type === "submit" || el.type === "button") continue;
      fields[el.id] = el.type === "checkbox" || el.type === "radio" ? el.checked : el.value;
    }
    try {
      sessionStorage.setItem(DRAFT, JSON.stringify({ key: formKey(compose), fields: fields }));
    } catch (e) { /* storage full or off: the form itself still holds the draft */ }
  }

  function note(text, href, linkText) {
    var p = document.createElement("p");
    p.className = "alert alert-info draft-note";
    p.setAttribute("role", "status");
    p.textContent = text + " ";
    if (href) {
      var a = document.createElement("a");
      a.href = href;
      a.textContent = linkText;
      p.appendChild(a);
    }
    var main = document.getElementById("main");
    if (main) main.insertBefore(p, main.firstChild);
  }

  var draft = loadDraft();
  if (/^\/console\/messages\//.test(location.pathname) && /[?&]sent=1/.test(location.search)) {
    sessionStorage.removeItem(DRAFT); // sent: nothing left to keep
  } else if (compose && draft && draft.key === formKey(compose)) {
    var restored = 0;
    Object.keys(draft.fields).forEach(function (id) {
      var el = document.getElementById(id);
      if (!el || !compose.contains(el)) return;
      var value = draft.fields[id];
      if (el.type === "checkbox" || el.type === "radio") el.checked = value === true;
      else if (el.value !== value) { el.value = value; restored += 1; }
    });
    if (restored) note(bar.dataset.tDraftRestored || "Your unsent draft was restored.");
  } else if (draft && location.pathname === "/console/compose") {
    note(bar.dataset.tDraftElsewhere || "You have an unsent draft.",
      "/console/compose?" + draft.key, bar.dataset.tDraftContinue || "Continue it");
  }
  if (compose) {
    var saving = null;
    var later = function () {
      if (saving !== null) window.clearTimeout(saving);
      saving = window.setTimeout(saveDraft, 200);
    };
    compose.addEventListener("input", later);
    compose.addEventListener("change", later);
  }
})();
