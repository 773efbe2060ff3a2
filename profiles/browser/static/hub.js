/*! hub.js — the privacy & consent hub's consent banner and collection snippet.
 *
 * One tag, no build step, no dependencies (plain ES2017):
 *   <script async src="https://hub.example/static/hub.js" data-site="pk_…"></script>
 * Optional: data-api="https://hub.example" (where the hub's /collect/ endpoints are; default:
 * where this file came from), data-lang="en" (default: <html lang>, then the browser's).
 *
 * Calls made before the script has loaded are queued with the stub
 *   window.hub = window.hub || [];  hub.push(["track", "Product Viewed", {sku: "B-42"}]);
 * and replayed once it has. Nothing is sent for a purpose the visitor has not accepted
 * (essential purposes excepted), and never a purpose that Global Privacy Control covers.
 */
(function () {
  "use strict";

  var VERSION = "1.0.0";
  var PUBLIC = ["track", "identify", "page", "openPreferences", "flush", "reset"];
  if (window.hub && !Array.isArray(window.hub) && window.hub.version) return; // loaded twice

  var script = document.currentScript || document.querySelector("script[data-site][src*='hub.js']");
  if (!script) return;
  var SITE = script.getAttribute("data-site") || "";
  var SCRIPT_URL = new URL(script.getAttribute("src") || "", window.location.href);
  var API = (script.getAttribute("data-api") || SCRIPT_URL.origin).replace(/\/+$/, "");

  var COOKIE = "hub_aid"; // first-party anonymous id
  var COOKIE_SECONDS = 395 * 24 * 3600; // 13 months (CNIL); set once, never extended by later visits
  var CONSENT_KEY = "hub_consent"; // localStorage: {version, decisions, synced}
  var USER_KEY = "hub_uid";
  var SIGNATURE_KEY = "hub_uid_sig";
  var FLUSH_MS = 1000; // send queued events this long after the first one…
  var FLUSH_AT = 20; // …or as soon as this many are waiting
  var MAX_BATCH_CHARS = 48000; // sendBeacon and keepalive fetches carry at most 64 KiB in flight
  var UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

  var gpc = navigator.globalPrivacyControl === true;
  var anonymousId = readOrSetAnonymousId();
  var userId = load(USER_KEY);
  // the site's backend signs the user id (HMAC-SHA256 under the service's secret): the hub does not
  // take a user id from a browser on trust, or anyone could attach a device to anyone's profile
  var userSignature = load(SIGNATURE_KEY);
  var stored = load(CONSENT_KEY);
  var notice = null; // {notice: {version, language, title, text, content_hash}, purposes: [...], gpc}
  var purposes = {};
  var ready = false;
  var held = []; // calls made before the notice was known
  var queue = []; // events waiting to be sent
  var timer = null;
  var banner = null;
  var focusBefore = null;

  // --- small helpers --------------------------------------------------------------------------
  function uuid4() {
    if (window.crypto && typeof window.crypto.randomUUID === "function" && window.isSecureContext) {
      return window.crypto.randomUUID();
    }
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 0x100).toString(16).slice(1); }).join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
  }

  function load(key) {
    try {
      var value = window.localStorage.getItem(key);
      return value ? JSON.parse(value) : null;
    } catch (e) {
      return null; // storage disabled or corrupt: as if nothing was stored
    }
  }

  function save(key, value) {
    try {
      if (value === null) window.localStorage.removeItem(key);
      else window.localStorage.setItem(key, JSON.stringify(value));
    } catch (e) { /* storage disabled: the choice lasts for this page only */ }
  }

  function readCookie(name) {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var at = parts[i].indexOf("=");
      if (parts[i].slice(0, at) === name) return parts[i].slice(at + 1);
    }
    return null;
  }

  function readOrSetAnonymousId() {
    var id = readCookie(COOKIE);
    if (id && UUID_RE.test(id)) return id;
    id = uuid4();
    document.cookie = COOKIE + "=" + id + "; Max-Age=" + COOKIE_SECONDS + "; Path=/; SameSite=Lax" +
      (window.location.protocol === "https:" ? "; Secure" : "");
    return id;
  }

  function plain(value) {
    return value && typeof value === "object" && !Array.isArray(value) ? value : {};
  }

  function purposeOf(options, fallback) {
    var purpose = plain(options).purpose;
    return typeof purpose === "string" && purpose ? purpose : fallback;
  }

  function language() {
    var tag = script.getAttribute("data-lang") || document.documentElement.lang || navigator.language || "en";
    var primary = String(tag).split("-")[0].toLowerCase();
    return /^[a-z]{2,8}$/.test(primary) ? primary : "en";
  }

  function emit(name, detail) {
    try {
      window.dispatchEvent(new CustomEvent(name, { detail: detail }));
    } catch (e) { /* an old browser without CustomEvent: nothing listens anyway */ }
  }

  function withoutQuery(url) {
    return url ? String(url).split(/[?#]/)[0] : "";
  }

  // --- consent ----------------------------------------------------------------------------------
  function currentDecision() {
    return !!(notice && stored && typeof stored === "object" && stored.version === notice.notice.version &&
      stored.decisions && typeof stored.decisions === "object");
  }

  function consented(key) {
    var purpose = purposes[key];
    if (!purpose) return false; // unknown, or not in the notice: fail closed
    if (!purpose.needs_consent) return true; // essential, or another lawful basis
    if (gpc && purpose.gpc_applies) return false;
    return currentDecision() && stored.decisions[key] === true;
  }

  function allDecisions(granted) {
    var decisions = {};
    notice.purposes.forEach(function (p) {
      if (p.needs_consent) decisions[p.key] = granted && !(gpc && p.gpc_applies);
    });
    return decisions;
  }

  function decide(decisions) {
    stored = { version: notice.notice.version, decisions: decisions, synced: false };
    save(CONSENT_KEY, stored);
    closeBanner();
    emit("hub:consent", { version: stored.version, decisions: decisions, gpc: gpc });
    record(stored);
  }

  function record(decision) {
    if (!Object.keys(decision.decisions).length && !gpc) return;
    var body = {
      site: SITE, anonymous_id: anonymousId, decisions: decision.decisions, notice_version: decision.version,
      language: notice.notice.language, gpc: gpc
    };
    // text/plain keeps this a "simple" cross-origin request: no preflight, no cookies.
    window.fetch(API + "/collect/consent", {
      method: "POST", body: JSON.stringify(body), credentials: "omit", keepalive: true,
      headers: { "Content-Type": "text/plain;charset=UTF-8" }
    }).then(function (response) {
      // a refusal (4xx) will not change by retrying; a server or network failure is retried next page
      if (response.ok || (response.status >= 400 && response.status < 500 && response.status !== 429)) {
        if (stored === decision) {
          decision.synced = true;
          save(CONSENT_KEY, decision);
        }
      }
    }).catch(function () { /* offline: retried on the next page */ });
  }

  // --- the banner -------------------------------------------------------------------------------
  function el(tag, attributes, text) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) { node.setAttribute(name, attributes[name]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function button(id, text, type) {
    return el("button", { type: type || "button", id: id, "class": "hub-button" }, text);
  }

  function buildBanner() {
    var root = el("div", {
      id: "hub-banner", "class": "hub-banner", role: "dialog", "aria-modal": "false",
      "aria-labelledby": "hub-banner-title", "aria-describedby": "hub-banner-text"
    });
    root.appendChild(el("h2", { id: "hub-banner-title", "class": "hub-title", tabindex: "-1" }, notice.notice.title));
    var text = el("div", { id: "hub-banner-text", "class": "hub-text" });
    String(notice.notice.text).split(/\n\s*\n/).forEach(function (paragraph) {
      text.appendChild(el("p", {}, paragraph));
    });
    root.appendChild(text);
    if (gpc) {
      root.appendChild(el("p", { id: "hub-banner-gpc", "class": "hub-gpc" },
        "Your browser sent a Global Privacy Control signal: we will not sell or share your data " +
        "or use it for targeted advertising, whatever you choose here."));
    }
    var actions = el("div", { "class": "hub-actions" });
    var accept = button("hub-accept-all", "Accept all");
    var reject = button("hub-reject-all", "Reject all");
    var choose = button("hub-choose", "Choose");
    choose.setAttribute("aria-expanded", "false");
    choose.setAttribute("aria-controls", "hub-choices");
    actions.appendChild(accept);
    actions.appendChild(reject);
    actions.appendChild(choose);
    root.appendChild(actions);
    var form = buildChoices();
    root.appendChild(form);

    accept.addEventListener("click", function () { decide(allDecisions(true)); });
    reject.addEventListener("click", function () { decide(allDecisions(false)); });
    choose.addEventListener("click", function () { showChoices(form.hidden); });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var decisions = {};
      notice.purposes.forEach(function (p) {
        var box = form.elements.namedItem(p.key);
        if (p.needs_consent) decisions[p.key] = !!(box && box.checked && !box.disabled);
      });
      decide(decisions);
    });
    root.addEventListener("keydown", function (event) {
      // Escape closes only a banner reopened from "Privacy settings": a first visit needs a choice
      if (event.key === "Escape" && currentDecision()) closeBanner();
    });
    return root;
  }

  function buildChoices() {
    var form = el("form", { id: "hub-choices", "class": "hub-choices", "aria-label": "Your choices per purpose" });
    form.hidden = true;
    var fieldset = el("fieldset");
    fieldset.appendChild(el("legend", {}, "Choose what you allow"));
    notice.purposes.forEach(function (p) {
      var row = el("div", { "class": "hub-purpose" });
      var id = "hub-purpose-" + p.key;
      var box = el("input", { type: "checkbox", id: id, name: p.key, "aria-describedby": id + "-description" });
      var label = el("label", { "for": id }, p.name);
      if (!p.needs_consent) {
        box.checked = true;
        box.disabled = true;
        label.textContent = p.name + " (always on)";
      } else if (gpc && p.gpc_applies) {
        box.checked = false;
        box.disabled = true;
        label.textContent = p.name + " (off: Global Privacy Control)";
      } else {
        box.checked = currentDecision() && stored.decisions[p.key] === true;
      }
      row.appendChild(box);
      row.appendChild(label);
      row.appendChild(el("p", { id: id + "-description", "class": "hub-description" }, p.description));
      fieldset.appendChild(row);
    });
    form.appendChild(fieldset);
    form.appendChild(button("hub-save-choices", "Save choices", "submit"));
    return form;
  }

  function showChoices(open) {
    var form = banner.querySelector("#hub-choices");
    form.hidden = !open;
    banner.querySelector("#hub-choose").setAttribute("aria-expanded", open ? "true" : "false");
    if (open) {
      var first = form.querySelector("input:not([disabled])") || form.querySelector("#hub-save-choices");
      first.focus();
    }
  }

  function openBanner(withChoices) {
    if (!notice) return false;
    if (banner) banner.remove();
    focusBefore = document.activeElement;
    banner = buildBanner();
    document.body.appendChild(banner);
    if (withChoices) showChoices(true);
    else banner.querySelector("#hub-banner-title").focus();
    emit("hub:banner", { open: true });
    return true;
  }

  function closeBanner() {
    if (!banner) return;
    banner.remove();
    banner = null;
    if (focusBefore && focusBefore.isConnected && typeof focusBefore.focus === "function") focusBefore.focus();
    focusBefore = null;
    emit("hub:banner", { open: false });
  }

  // --- collection -------------------------------------------------------------------------------
  function enqueue(type, purpose, fields) {
    if (!consented(purpose)) return false;
    var context = {
      page: {
        path: window.location.pathname, title: document.title, referrer: withoutQuery(document.referrer)
      },
      library: { name: "hub.js", version: VERSION }
    };
    if (gpc) context.gpc = true;
    var event = {
      message_id: uuid4(), type: type, anonymous_id: anonymousId, purpose: purpose,
      properties: fields.properties || {}, traits: fields.traits || {}, context: context
    };
    if (fields.event) event.event = fields.event;
    var user = fields.user_id || userId;
    if (user && userSignature) {
      event.user_id = user;
      context.user_id_signature = userSignature;
    }
    queue.push(event);
    if (queue.length >= FLUSH_AT) flush();
    else if (!timer) timer = window.setTimeout(flush, FLUSH_MS);
    return true;
  }

  function flush() {
    if (timer) window.clearTimeout(timer);
    timer = null;
    while (queue.length) {
      var batch = [];
      var size = 0;
      while (queue.length) {
        var length = JSON.stringify(queue[0]).length + 1;
        if (batch.length && size + length > MAX_BATCH_CHARS) break;
        batch.push(queue.shift());
        size += length;
      }
      send(JSON.stringify({ site: SITE, batch: batch }));
    }
    return true;
  }

  function send(body) {
    var url = API + "/collect/events";
    try {
      // a string is sent as text/plain;charset=UTF-8: no preflight, survives the page closing
      if (navigator.sendBeacon && navigator.sendBeacon(url, body)) return;
    } catch (e) { /* fall back to fetch */ }
    try {
      window.fetch(url, {
        method: "POST", body: body, keepalive: true, credentials: "omit",
        headers: { "Content-Type": "text/plain;charset=UTF-8" }
      }).catch(function () { /* lost: analytics is best effort */ });
    } catch (e) { /* no fetch either */ }
  }

  // --- the public API ---------------------------------------------------------------------------
  function whenReady(call) {
    if (ready) return call();
    held.push(call);
    return null; // held until the notice is known, then sent or dropped
  }

  var api = {
    version: VERSION,
    /** Record an action, e.g. hub.track("Product Viewed", {sku: "B-42"}, {purpose: "analytics"}). */
    track: function (name, properties, options) {
      if (typeof name !== "string" || !name) return false;
      var props = plain(properties);
      return whenReady(function () {
        return enqueue("track", purposeOf(options, "analytics"), { event: name, properties: props });
      });
    },
    /** Link this device to a signed-in user (and send traits), under "personalization" by default.
     *  options.signature: hex HMAC-SHA256 of "user_id:" + id under the service's secret, computed by
     *  the site's backend; without it the traits go to this device's anonymous id only. */
    identify: function (id, traits, options) {
      if (typeof id === "number") id = String(id);
      if (typeof id !== "string" || !id) return false;
      var values = plain(traits);
      return whenReady(function () {
        var purpose = purposeOf(options, "personalization");
        if (!consented(purpose)) return false;
        var signature = options && typeof options.signature === "string" ? options.signature : null;
        if (!signature) return enqueue("identify", purpose, { traits: values });
        userId = id;
        userSignature = signature;
        save(USER_KEY, id);
        save(SIGNATURE_KEY, signature);
        return enqueue("identify", purpose, { traits: values, user_id: id });
      });
    },
    /** A page view, under "analytics" by default. */
    page: function (properties, options) {
      var props = plain(properties);
      return whenReady(function () { return enqueue("page", purposeOf(options, "analytics"), { properties: props }); });
    },
    /** Reopen the banner with the per-purpose choices shown (a "Privacy settings" link). */
    openPreferences: function () {
      return whenReady(function () { return openBanner(true); });
    },
    /** Would an event for this purpose be sent now? */
    consented: function (purpose) { return ready && consented(purpose); },
    /** The visitor's current choices for the current notice, or null before they made one. */
    decisions: function () { return currentDecision() ? Object.assign({}, stored.decisions) : null; },
    anonymousId: function () { return anonymousId; },
    /** Send what is queued now (it is also sent on a timer, in batches, and when the page is hidden). */
    flush: flush,
    /** Forget the signed-in user (on sign-out); the device keeps its anonymous id. */
    reset: function () {
      userId = null;
      userSignature = null;
      save(USER_KEY, null);
      save(SIGNATURE_KEY, null);
      return true;
    }
  };

  // --- start ------------------------------------------------------------------------------------
  function loadStyles() {
    return new Promise(function (resolve) {
      var link = el("link", { rel: "stylesheet", href: new URL("hub.css", SCRIPT_URL).href });
      link.addEventListener("load", resolve);
      link.addEventListener("error", resolve);
      window.setTimeout(resolve, 2000);
      document.head.appendChild(link);
    });
  }

  function domReady() {
    return new Promise(function (resolve) {
      if (document.body) resolve();
      else document.addEventListener("DOMContentLoaded", resolve);
    });
  }

  async function fetchNotice() {
    if (!SITE) throw new Error("hub.js: the script tag needs data-site=\"pk_…\"");
    var url = API + "/collect/notice?site=" + encodeURIComponent(SITE) + "&lang=" + encodeURIComponent(language());
    var response = await window.fetch(url, { credentials: "omit" });
    if (!response.ok) throw new Error("hub.js: the notice could not be loaded (" + response.status + ")");
    return response.json();
  }

  async function start() {
    var styles = loadStyles();
    try {
      notice = await fetchNotice();
      notice.purposes.forEach(function (p) { purposes[p.key] = p; });
    } catch (error) {
      notice = null; // fail closed: nothing is sent, no banner is shown
      if (window.console) window.console.warn(String(error && error.message ? error.message : error));
    }
    ready = true;
    var calls = held;
    held = [];
    calls.forEach(function (call) {
      try { call(); } catch (e) { /* one bad call must not stop the others */ }
    });
    if (notice) {
      var choice = notice.purposes.some(function (p) { return p.needs_consent; });
      if (!currentDecision() && choice) {
        await Promise.all([styles, domReady()]);
        if (!banner && !currentDecision()) openBanner(false);
      } else if (currentDecision() && stored.synced === false) {
        record(stored); // the last attempt to record it failed
      }
    }
    emit("hub:ready", { notice_version: notice ? notice.notice.version : null, gpc: gpc });
  }

  var stub = Array.isArray(window.hub) ? window.hub.slice() : [];
  window.hub = api;
  window.addEventListener("pagehide", flush);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") flush();
  });
  stub.forEach(function (call) {
    if (Array.isArray(call) && PUBLIC.indexOf(call[0]) >= 0) api[call[0]].apply(api, call.slice(1));
  });
  start();
})();
