/*! hub.js — the privacy & consent hub's consent banner, tag blocker and collection snippet.
 *
 * One tag, no build step, no dependencies (plain ES2017), no third-party code:
 *   <script async src="https://hub.example/static/hub.js" data-site="pk_…"></script>
 * Optional: data-api="https://hub.example" (where the hub's /collect/ endpoints are; default:
 * where this file came from), data-lang="en" (default: <html lang>, then the browser's),
 * data-cookie-domain=".example.com" (one choice across the site's subdomains),
 * data-consent-mode="off" (no Google Consent Mode / Microsoft UET signals),
 * data-settings-button="off" (the site shows its own "Privacy settings" link).
 *
 * Tags and embeds wait for consent:
 *   <script type="text/plain" data-hub-purpose="analytics" src="…"></script>
 *   <iframe data-hub-src="…" data-hub-purpose="marketing" title="…"></iframe>
 *
 * Calls made before the script has loaded are queued with the stub
 *   window.hub = window.hub || [];  hub.push(["track", "Product Viewed", {sku: "B-42"}]);
 * and replayed once it has. Nothing is sent or run for a purpose the visitor has not accepted
 * (essential purposes excepted), and never a purpose that Global Privacy Control covers.
 */
(function () {
  "use strict";

  var VERSION = "1.1.0";
  var PUBLIC = ["track", "identify", "page", "openPreferences", "flush", "reset"];
  if (window.hub && !Array.isArray(window.hub) && window.hub.version) return; // loaded twice

  var script = document.currentScript || document.querySelector("script[data-site][src*='hub.js']");
  if (!script) return;
  function option(name) { return script.getAttribute("data-" + name); }
  var SITE = option("site") || "";
  var SCRIPT_URL = new URL(script.getAttribute("src") || "", window.location.href);
  var API = (option("api") || SCRIPT_URL.origin).replace(/\/+$/, "");
  var CONSENT_MODE = option("consent-mode") !== "off";
  var SETTINGS_BUTTON = option("settings-button") !== "off";
  var SECURE = window.location.protocol === "https:" ? "; Secure" : "";

  var COOKIE = "hub_aid"; // first-party anonymous id
  var COOKIE_SECONDS = 395 * 24 * 3600; // 13 months (CNIL); set once, never extended by later visits
  var CONSENT_KEY = "hub_consent"; // localStorage {version, decisions, synced}; the cookie's name too
  var CHOICE_SECONDS = 183 * 24 * 3600; // the choice cookie: 6 months
  var MODE_KEY = "hub_consent_mode"; // localStorage: the last notice's purposes, for Consent Mode at start
  var SEEN_KEY = "hub_notice_seen"; // localStorage: the notice at collection version already shown
  var USER_KEY = "hub_uid";
  var SIGNATURE_KEY = "hub_uid_sig";
  var FLUSH_MS = 1000; // send queued events this long after the first one…
  var FLUSH_AT = 20; // …or as soon as this many are waiting
  var MAX_BATCH_CHARS = 48000; // sendBeacon and keepalive fetches carry at most 64 KiB in flight
  var TAG_WAIT_MS = 10000; // a tag that never loads nor fails must not hold the later ones forever
  var UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
  var SIGNALS = ["ad_storage", "analytics_storage", "ad_user_data", "ad_personalization",
    "functionality_storage", "personalization_storage", "security_storage"];
  var HELD = "script[data-hub-purpose],iframe[data-hub-purpose]";
  var WORDS = { // English, only for a key the hub did not send
    accept_all: "Accept all", reject_all: "Reject all", choose: "Choose", save_choices: "Save choices",
    choices_label: "Your choices per purpose", choices_legend: "Choose what you allow", always_on: "always on",
    off_gpc: "off: Global Privacy Control",
    gpc_honoured: "Your browser sent a Global Privacy Control signal: we will not sell or share your data " +
      "or use it for targeted advertising, whatever you choose here.",
    privacy_settings: "Privacy settings", do_not_sell: "Do Not Sell or Share My Personal Information",
    limit_sensitive: "Limit the Use of My Sensitive Personal Information",
    opted_out: "Done: we will not sell or share your personal information.",
    limited: "Done: we will use your sensitive personal information only as needed to serve you.",
    notice_at_collection: "Notice at collection", ok: "OK",
    blocked_frame: "This content is from another site and may set cookies for: {purpose}.",
    load_with_consent: "Load with consent"
  };

  var gpc = navigator.globalPrivacyControl === true;
  var COOKIE_DOMAIN = cookieDomain(option("cookie-domain"));
  var knownDevice = UUID_RE.test(readCookie(COOKIE) || ""); // this device chose before, maybe elsewhere
  var anonymousId = readOrSetAnonymousId();
  var userId = load(USER_KEY);
  // the site's backend signs the user id (HMAC-SHA256 under the service's secret): the hub does not
  // take a user id from a browser on trust, or anyone could attach a device to anyone's profile
  var userSignature = load(SIGNATURE_KEY);
  var stored = readChoice();
  var notice = null; // GET /collect/notice: {notice, purposes, gpc, experience, strings}
  var purposes = {};
  var ready = false;
  var held = []; // calls made before the notice was known
  var queue = []; // events waiting to be sent
  var timer = null;
  var banner = null;
  var settings = null;
  var focusBefore = null;
  var signalsSent = null;
  var tags = Promise.resolve(); // held tags run one after another, in document order
  var placeholders = new WeakMap();

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

  function cookieNames() {
    return (document.cookie ? document.cookie.split("; ") : []).map(function (part) { return part.split("=")[0]; });
  }

  function readCookie(name) {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var at = parts[i].indexOf("=");
      if (parts[i].slice(0, at) === name) return parts[i].slice(at + 1);
    }
    return null;
  }

  function writeCookie(name, value, seconds, domain) {
    document.cookie = name + "=" + value + "; Max-Age=" + seconds + "; Path=/; SameSite=Lax" +
      (domain ? "; Domain=" + domain : "") + SECURE;
  }

  /** data-cookie-domain, if it is this page's host or a parent of it; else none (a typo must not leak). */
  function cookieDomain(value) {
    var domain = String(value || "").toLowerCase().replace(/^\./, "");
    var host = window.location.hostname.toLowerCase();
    if (!domain || !/^[a-z0-9.-]+$/.test(domain)) return null;
    return host === domain || host.slice(-domain.length - 1) === "." + domain ? domain : null;
  }

  function readOrSetAnonymousId() {
    var id = readCookie(COOKIE);
    if (id && UUID_RE.test(id)) return id;
    id = uuid4();
    writeCookie(COOKIE, id, COOKIE_SECONDS, COOKIE_DOMAIN);
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
    var tag = option("lang") || document.documentElement.lang || navigator.language || "en";
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

  /** A banner word in the notice's language (English only for a key the hub did not send). */
  function word(key) {
    var strings = notice && plain(notice.strings);
    return strings && typeof strings[key] === "string" && strings[key] ? strings[key] : WORDS[key];
  }

  function post(path, body) {
    // text/plain keeps this a "simple" cross-origin request: no preflight, no cookies.
    return window.fetch(API + path, {
      method: "POST", body: JSON.stringify(body), credentials: "omit", keepalive: true,
      headers: { "Content-Type": "text/plain;charset=UTF-8" }
    });
  }

  // --- the stored choice ------------------------------------------------------------------------
  /** With data-cookie-domain the choice cookie is the truth (another subdomain may have changed it):
   *  "<notice version>.<granted key>.<granted key>…", no personal data. */
  function readChoice() {
    var local = load(CONSENT_KEY);
    if (!COOKIE_DOMAIN) return local;
    var match = /^(\d{1,10})((?:\.[A-Za-z0-9_-]{1,64})*)$/.exec(readCookie(CONSENT_KEY) || "");
    if (!match) return null;
    var decisions = {};
    match[2].split(".").slice(1).forEach(function (key) { decisions[key] = true; });
    var version = Number(match[1]);
    var same = local && local.version === version && local.decisions &&
      choiceCookie(local) === readCookie(CONSENT_KEY);
    return same ? local : { version: version, decisions: decisions, synced: true, partial: true };
  }

  function choiceCookie(choice) {
    return [choice.version].concat(Object.keys(choice.decisions).filter(function (key) {
      return choice.decisions[key] === true && /^[A-Za-z0-9_-]{1,64}$/.test(key);
    }).sort()).join(".");
  }

  function keep(choice) {
    stored = choice;
    save(CONSENT_KEY, choice);
    if (COOKIE_DOMAIN) writeCookie(CONSENT_KEY, choiceCookie(choice), CHOICE_SECONDS, COOKIE_DOMAIN);
  }

  /** Only this notice's consent-based purposes, as booleans (a cookie lists only the granted ones). */
  function complete(decisions) {
    var result = {};
    notice.purposes.forEach(function (p) {
      if (p.needs_consent) result[p.key] = decisions[p.key] === true;
    });
    return result;
  }

  /** No choice here, but this device is known: the hub may hold the choice made on another subdomain. */
  async function restoreChoice() {
    try {
      var response = await post("/collect/choice", { site: SITE, anonymous_id: anonymousId });
      if (!response.ok) return;
      var body = plain(await response.json());
      if (body.notice_version !== notice.notice.version || !Object.keys(plain(body.decisions)).length) return;
      keep({ version: body.notice_version, decisions: complete(plain(body.decisions)), synced: true });
    } catch (e) { /* offline or refused: the banner asks again */ }
  }

  // --- consent ----------------------------------------------------------------------------------
  function optOut() {
    return !!notice && plain(notice.experience).regime === "opt_out";
  }

  function currentDecision() {
    return !!(notice && stored && typeof stored === "object" && stored.version === notice.notice.version &&
      stored.decisions && typeof stored.decisions === "object");
  }

  /** May this purpose run now? `regime` and `version` come from the notice (or, at start, its cache). */
  function allowed(purpose, version, regime) {
    if (!purpose) return false; // unknown, or not in the notice: fail closed
    if (!purpose.needs_consent) return true; // essential, or another lawful basis
    if (gpc && purpose.gpc_applies) return false;
    var choice = stored && typeof stored === "object" ? plain(stored.decisions)[purpose.key] : undefined;
    // opt-out regimes: allowed until refused, whichever notice the refusal was made under
    if (regime === "opt_out") return choice !== false;
    return stored && stored.version === version && choice === true;
  }

  function consented(key) {
    return !!notice && allowed(purposes[key], notice.notice.version, optOut() ? "opt_out" : "opt_in");
  }

  function allDecisions(granted) {
    var decisions = {};
    notice.purposes.forEach(function (p) {
      if (p.needs_consent) decisions[p.key] = granted && !(gpc && p.gpc_applies);
    });
    return decisions;
  }

  function decide(decisions, keepOpen) {
    keep({ version: notice.notice.version, decisions: decisions, synced: false });
    if (!keepOpen) closeBanner();
    emit("hub:consent", { version: stored.version, decisions: decisions, gpc: gpc });
    record(stored);
    applied(true);
  }

  /** "Load with consent" on a blocked embed: that purpose granted, the other choices unchanged. */
  function grant(key) {
    var first = !currentDecision();
    var decisions = first ? {} : Object.assign({}, stored.decisions);
    decisions[key] = !(gpc && purposes[key].gpc_applies);
    decide(decisions, first); // a first visit still owes the banner its other choices
  }

  /** After the notice or a choice: tell Consent Mode, delete refused cookies, run what may now run. */
  function applied(decided) {
    consentMode("update", decided);
    if (decided || currentDecision()) deleteCookies();
    scan();
    showSettings();
  }

  function record(decision) {
    if (!Object.keys(decision.decisions).length && !gpc) return;
    post("/collect/consent", {
      site: SITE, anonymous_id: anonymousId, decisions: decision.decisions, notice_version: decision.version,
      language: notice.notice.language, gpc: gpc
    }).then(function (response) {
      // a refusal (4xx) will not change by retrying; a server or network failure is retried next page
      if (response.ok || (response.status >= 400 && response.status < 500 && response.status !== 429)) {
        if (stored === decision) {
          decision.synced = true;
          keep(decision);
        }
      }
    }).catch(function () { /* offline: retried on the next page */ });
  }

  // --- Google Consent Mode v2 and Microsoft UET ----------------------------------------------
  function gtag() {
    window.dataLayer.push(arguments); // an Arguments object, exactly as Google's snippet pushes it
  }

  /** Each signal is granted only if every purpose mapped to it is allowed (none mapped: denied). */
  function consentMode(kind, always) {
    if (!CONSENT_MODE) return;
    var list = [];
    var version = null;
    var regime = "opt_in";
    if (notice) {
      list = notice.purposes;
      version = notice.notice.version;
      regime = optOut() ? "opt_out" : "opt_in";
    } else {
      var cached = plain(load(MODE_KEY)); // the last notice's mapping: nothing cached, all denied
      list = Array.isArray(cached.purposes) ? cached.purposes.filter(function (p) { return p && p.key; }) : [];
      version = cached.version;
      regime = cached.regime;
    }
    var signals = {};
    SIGNALS.forEach(function (signal) {
      var mapped = list.filter(function (p) { return Array.isArray(p.consent_mode) && p.consent_mode.indexOf(signal) >= 0; });
      signals[signal] = mapped.length && mapped.every(function (p) { return allowed(p, version, regime); }) ?
        "granted" : "denied";
    });
    if (kind === "update" && !always && JSON.stringify(signals) === JSON.stringify(signalsSent)) return;
    signalsSent = signals;
    var values = Object.assign({}, signals);
    if (kind === "default") values.wait_for_update = 500;
    window.dataLayer = window.dataLayer || [];
    gtag("consent", kind, values);
    window.uetq = window.uetq || [];
    window.uetq.push("consent", kind, { ad_storage: signals.ad_storage });
  }

  function cacheMode() {
    save(MODE_KEY, {
      version: notice.notice.version, regime: optOut() ? "opt_out" : "opt_in",
      purposes: notice.purposes.map(function (p) {
        return { key: p.key, needs_consent: p.needs_consent, gpc_applies: p.gpc_applies, consent_mode: p.consent_mode };
      })
    });
  }

  // --- tags and embeds held until consent -------------------------------------------------------
  function scan() {
    if (!notice) return; // before the notice nothing held runs; if it failed, nothing ever does
    Array.prototype.forEach.call(document.querySelectorAll(HELD), function (node) {
      var key = node.getAttribute("data-hub-purpose");
      var state = node.getAttribute("data-hub-state");
      if (node.tagName === "IFRAME") {
        if (state !== "loaded" && node.hasAttribute("data-hub-src")) frame(node, key);
        return;
      }
      if (state === "ran" || String(node.getAttribute("type")).toLowerCase() !== "text/plain") return;
      if (!consented(key)) {
        node.setAttribute("data-hub-state", "held");
        return;
      }
      node.setAttribute("data-hub-state", "ran"); // once, whatever happens next
      tags = tags.then(function () { return run(node, key); });
    });
  }

  function run(original, key) {
    return new Promise(function (resolve) {
      var tag = document.createElement("script");
      Array.prototype.forEach.call(original.attributes, function (a) {
        if (a.name !== "type" && a.name !== "nonce" && a.name.indexOf("data-hub-") !== 0) tag.setAttribute(a.name, a.value);
      });
      if (original.nonce) tag.nonce = original.nonce; // browsers hide the attribute; the property keeps it
      var src = original.getAttribute("src");
      var finished = false;
      function done(outcome) {
        if (finished) return;
        finished = true;
        emit("hub:tag", { purpose: key, src: src || null, outcome: outcome });
        resolve();
      }
      if (src) {
        tag.async = false;
        tag.addEventListener("load", function () { done("loaded"); });
        tag.addEventListener("error", function () { done("error"); });
        window.setTimeout(function () { done("timeout"); }, TAG_WAIT_MS);
      } else {
        tag.text = original.text;
      }
      var parent = original.parentNode || document.head;
      parent.insertBefore(tag, original.parentNode ? original.nextSibling : null);
      if (!src) done("ran");
    });
  }

  function frame(node, key) {
    var placeholder = placeholders.get(node);
    if (consented(key)) {
      if (placeholder) placeholder.remove();
      node.hidden = false;
      node.setAttribute("data-hub-state", "loaded");
      node.setAttribute("src", node.getAttribute("data-hub-src"));
      emit("hub:tag", { purpose: key, src: node.getAttribute("data-hub-src"), outcome: "frame" });
      return;
    }
    node.setAttribute("data-hub-state", "held");
    node.hidden = true;
    if (placeholder || !node.parentNode) return;
    var purpose = purposes[key];
    var name = purpose ? purpose.name : key;
    placeholder = el("div", { "class": "hub-frame-placeholder", role: "group", "aria-label": name });
    placeholder.appendChild(el("p", {}, word("blocked_frame").split("{purpose}").join(name)));
    if (purpose && !(gpc && purpose.gpc_applies)) {
      var loader = el("button", { type: "button", "class": "hub-load-frame", "data-hub-for": key }, word("load_with_consent"));
      loader.addEventListener("click", function () { grant(key); });
      placeholder.appendChild(loader);
    }
    placeholders.set(node, placeholder);
    node.parentNode.insertBefore(placeholder, node);
  }

  function watch() {
    if (!window.MutationObserver) return;
    new window.MutationObserver(function (records) {
      var added = records.some(function (record) {
        return Array.prototype.some.call(record.addedNodes, function (node) {
          return node.nodeType === 1 && (node.matches(HELD) || !!node.querySelector(HELD));
        });
      });
      if (added) scan();
    }).observe(document.documentElement, { childList: true, subtree: true });
  }

  /** Refused purposes' first-party cookies, on every domain they may have been set for. */
  function deleteCookies() {
    var names = cookieNames();
    var parts = window.location.hostname.split(".");
    var domains = [""];
    for (var i = 0; i < parts.length - 1; i++) domains.push((i ? "." : "") + parts.slice(i).join("."));
    notice.purposes.forEach(function (p) {
      if (consented(p.key) || !Array.isArray(p.cookies)) return;
      p.cookies.forEach(function (pattern) {
        var re = new RegExp("^" + String(pattern).split("*").map(function (s) {
          return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        }).join(".*") + "$");
        names.forEach(function (name) {
          if (!name || name === COOKIE || name === CONSENT_KEY || !re.test(name)) return;
          domains.forEach(function (domain) {
            document.cookie = name + "=; Max-Age=0; Path=/" + (domain ? "; Domain=" + domain : "") + SECURE;
          });
        });
      });
    });
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

  function dialog(id) {
    var root = el("div", {
      id: id, "class": "hub-banner", role: "dialog", "aria-modal": "false",
      "aria-labelledby": "hub-banner-title", "aria-describedby": "hub-banner-text"
    });
    root.appendChild(el("h2", { id: "hub-banner-title", "class": "hub-title", tabindex: "-1" }, notice.notice.title));
    var text = el("div", { id: "hub-banner-text", "class": "hub-text" });
    String(notice.notice.text).split(/\n\s*\n/).forEach(function (paragraph) {
      text.appendChild(el("p", {}, paragraph));
    });
    root.appendChild(text);
    if (gpc && (!optOut() || plain(notice.experience).gpc_honoured)) {
      root.appendChild(el("p", { id: "hub-banner-gpc", "class": "hub-gpc" }, word("gpc_honoured")));
    }
    root.addEventListener("keydown", function (event) {
      // Escape closes only a banner reopened from "Privacy settings": a first visit needs a choice
      if (event.key === "Escape" && (currentDecision() || seen())) closeBanner();
    });
    return root;
  }

  function buildBanner() {
    var root = dialog("hub-banner");
    var actions = el("div", { "class": "hub-actions" });
    var accept = button("hub-accept-all", word("accept_all"));
    var reject = button("hub-reject-all", word("reject_all"));
    var choose = button("hub-choose", word("choose"));
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
    return root;
  }

  function buildChoices() {
    var form = el("form", { id: "hub-choices", "class": "hub-choices", "aria-label": word("choices_label") });
    form.hidden = true;
    var fieldset = el("fieldset");
    fieldset.appendChild(el("legend", {}, word("choices_legend")));
    notice.purposes.forEach(function (p) {
      var row = el("div", { "class": "hub-purpose" });
      var id = "hub-purpose-" + p.key;
      var box = el("input", { type: "checkbox", id: id, name: p.key, "aria-describedby": id + "-description" });
      var label = el("label", { "for": id }, p.name);
      if (!p.needs_consent) {
        box.checked = true;
        box.disabled = true;
        label.textContent = p.name + " (" + word("always_on") + ")";
      } else if (gpc && p.gpc_applies) {
        box.checked = false;
        box.disabled = true;
        label.textContent = p.name + " (" + word("off_gpc") + ")";
      } else {
        box.checked = consented(p.key);
      }
      row.appendChild(box);
      row.appendChild(label);
      row.appendChild(el("p", { id: id + "-description", "class": "hub-description" }, p.description));
      fieldset.appendChild(row);
    });
    form.appendChild(fieldset);
    form.appendChild(button("hub-save-choices", word("save_choices"), "submit"));
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

  // --- opt-out regimes: a notice at collection with "Do Not Sell or Share" -------------------------
  function seen() {
    return !!notice && load(SEEN_KEY) === notice.notice.version;
  }

  function buildNoticeAtCollection() {
    var root = dialog("hub-notice-at-collection");
    root.insertBefore(el("p", { "class": "hub-kicker" }, word("notice_at_collection")), root.firstChild);
    var actions = el("div", { "class": "hub-actions" });
    var ok = button("hub-ok", word("ok"));
    ok.addEventListener("click", function () {
      save(SEEN_KEY, notice.notice.version); // records nothing: it was shown, that is all
      closeBanner();
    });
    actions.appendChild(ok);
    root.appendChild(actions);
    var links = el("p", { "class": "hub-links" });
    var status = el("p", { id: "hub-optout-status", "class": "hub-status", role: "status" });
    function link(id, kind, done) {
      var node = el("button", { type: "button", id: id, "class": "hub-link" }, word(kind));
      node.addEventListener("click", function () { optOutOf(kind, done, status); });
      links.appendChild(node);
    }
    var experience = plain(notice.experience);
    if (experience.do_not_sell !== false) link("hub-do-not-sell", "do_not_sell", "opted_out");
    if (experience.limit_sensitive) link("hub-limit-sensitive", "limit_sensitive", "limited");
    root.appendChild(links);
    root.appendChild(status);
    return root;
  }

  async function optOutOf(kind, done, status) {
    var serverKind = kind === "do_not_sell" ? "sale_share" : "limit_sensitive";
    // sale/share covers what GPC covers: refused here at once, whatever the network does
    var refused = serverKind === "sale_share" ?
      notice.purposes.filter(function (p) { return p.needs_consent && p.gpc_applies; }).map(function (p) { return p.key; }) : [];
    var ok = false;
    try {
      var response = await post("/collect/opt-out", { site: SITE, anonymous_id: anonymousId, kind: serverKind });
      ok = response.ok;
      var body = ok ? plain(await response.json()) : {};
      if (Array.isArray(body.applied)) refused = refused.concat(body.applied);
    } catch (e) { /* offline: refused on this device; the hub hears of it with the next choice */ }
    var decisions = {};
    notice.purposes.forEach(function (p) {
      if (p.needs_consent) decisions[p.key] = consented(p.key) && refused.indexOf(p.key) < 0;
    });
    keep({ version: notice.notice.version, decisions: decisions, synced: ok });
    save(SEEN_KEY, notice.notice.version);
    emit("hub:consent", { version: stored.version, decisions: decisions, gpc: gpc, opt_out: serverKind });
    if (ok) status.textContent = word(done);
    applied(true);
  }

  function openBanner(withChoices) {
    if (!notice) return false;
    if (banner) banner.remove();
    focusBefore = document.activeElement;
    banner = optOut() ? buildNoticeAtCollection() : buildBanner();
    document.body.appendChild(banner);
    if (settings) settings.hidden = true;
    if (withChoices && !optOut()) showChoices(true);
    else banner.querySelector("#hub-banner-title").focus();
    emit("hub:banner", { open: true });
    return true;
  }

  function closeBanner() {
    if (!banner) return;
    banner.remove();
    banner = null;
    showSettings();
    if (focusBefore && focusBefore.isConnected && typeof focusBefore.focus === "function") focusBefore.focus();
    focusBefore = null;
    emit("hub:banner", { open: false });
  }

  /** The persistent "Privacy settings" button, once a choice exists (off: data-settings-button="off"). */
  function showSettings() {
    if (!SETTINGS_BUTTON || !notice || !document.body || !(currentDecision() || seen())) return;
    if (!settings) {
      settings = el("button", { type: "button", id: "hub-settings-button", "class": "hub-settings-button" },
        word("privacy_settings"));
      settings.addEventListener("click", function () { openBanner(true); });
      document.body.appendChild(settings);
    }
    settings.hidden = !!banner;
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
    /** Would an event for this purpose be sent (and its tags run) now? */
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
    },
    /** The age the person stated in the site's own age screen (whole years). Resolves to
     *  {parental_consent_required, parental_consent}: below the jurisdiction's age of digital consent,
     *  consent-based purposes stay refused until a parent agrees (see askParent). */
    statedAge: function (years) {
      if (typeof years !== "number" || years % 1 !== 0 || years < 0 || years > 130) return Promise.resolve(null);
      return post("/collect/age", { site: SITE, anonymous_id: anonymousId, age: years })
        .then(function (response) { return response.ok ? response.json() : null; })
        .catch(function () { return null; });
    },
    /** Ask a parent or guardian, by email, to consent for this child; resolves to true once the hub
     *  has taken the request (the address goes to the hub only, never into the page's storage). */
    askParent: function (email) {
      if (typeof email !== "string" || !email) return Promise.resolve(false);
      return post("/collect/parental-consent", {
        site: SITE, anonymous_id: anonymousId, parent_email: email, language: language()
      }).then(function (response) { return response.status === 202; }).catch(function () { return false; });
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
    var url = API + "/collect/notice?site=" + encodeURIComponent(SITE) + "&lang=" + encodeURIComponent(language()) +
      (option("jurisdiction") ? "&jurisdiction=" + encodeURIComponent(option("jurisdiction")) : "");
    var response = await window.fetch(url, { credentials: "omit" });
    if (!response.ok) throw new Error("hub.js: the notice could not be loaded (" + response.status + ")");
    var body = await response.json();
    if (!body || !body.notice || !Array.isArray(body.purposes)) throw new Error("hub.js: not a notice");
    return body;
  }

  async function start() {
    var styles = loadStyles();
    try {
      notice = await fetchNotice();
      notice.purposes.forEach(function (p) { purposes[p.key] = p; });
      if (currentDecision() && stored.partial) keep({ version: stored.version, decisions: complete(stored.decisions), synced: true });
      if (!currentDecision() && knownDevice && !seen()) await restoreChoice();
      cacheMode();
    } catch (error) {
      notice = null; // fail closed: nothing is sent or run, no banner is shown
      purposes = {};
      if (window.console) window.console.warn(String(error && error.message ? error.message : error));
    }
    ready = true;
    var calls = held;
    held = [];
    calls.forEach(function (call) {
      try { call(); } catch (e) { /* one bad call must not stop the others */ }
    });
    if (notice) {
      applied(false);
      watch();
      var choice = notice.purposes.some(function (p) { return p.needs_consent; });
      if (!currentDecision() && !seen() && choice) {
        await Promise.all([styles, domReady()]);
        if (!banner && !currentDecision() && !seen()) openBanner(false);
      } else if (currentDecision() && stored.synced === false) {
        record(stored); // the last attempt to record it failed
      }
      await Promise.all([styles, domReady()]);
      scan(); // tags parsed while the notice was on its way
      showSettings();
    }
    emit("hub:ready", { notice_version: notice ? notice.notice.version : null, gpc: gpc });
  }

  var stub = Array.isArray(window.hub) ? window.hub.slice() : [];
  window.hub = api;
  consentMode("default"); // before anything else: Google's and Microsoft's tags read it when they load
  window.addEventListener("pagehide", flush);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") flush();
  });
  stub.forEach(function (call) {
    if (Array.isArray(call) && PUBLIC.indexOf(call[0]) >= 0) api[call[0]].apply(api, call.slice(1));
  });
  start();
})();
