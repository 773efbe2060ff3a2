/* Stands in for an analytics tag (gtag.js, Matomo): hub.js runs it only once analytics is allowed. */
(function () {
  "use strict";
  document.cookie = "_ga=GA1.demo; Max-Age=34128000; Path=/; SameSite=Lax";
  var runs = (window.demoTagRuns = window.demoTagRuns || {});
  runs.analytics = (runs.analytics || 0) + 1;
  (window.dataLayer = window.dataLayer || []).push({ event: "demo_tag", tag: "analytics" });
  var state = document.getElementById("tag-analytics-state");
  if (state) state.textContent = "ran";
})();
