/*
 * What a page written once per change of its content cannot say (catalog/website/build.py, ENTITY_PAGES): the
 * build's instant, the data's age, the as-of day, and on a model page the newest telemetry. Every build writes
 * them to build.js (self.catalogBuild) and telemetry.js (self.catalogTelemetry), loaded before this file; an
 * unchanged page is then the same bytes from build to build and is not written again.
 *
 *   self.catalogBuild = {"at": unix_seconds, "text": {"asof": str, "on-day": str}}
 *       each element with data-stamp="NAME" gets text[NAME] as its text (never as markup)
 *   self.catalogTelemetry = {model_id: {endpoint_key: [uptime, latency, throughput], ...}, ...}
 *       the table with data-telemetry-model="MODEL": in each tr[data-endpoint="KEY"], the td[data-telemetry]
 *       cells in order get the three texts
 */
(function () {
  "use strict";
  var build = self.catalogBuild;
  if (build && build.text) {
    Array.prototype.forEach.call(document.querySelectorAll("[data-stamp]"), function (el) {
      var text = build.text[el.getAttribute("data-stamp")];
      if (typeof text === "string") el.textContent = text;
    });
  }
  var telemetry = self.catalogTelemetry;
  var table = document.querySelector("[data-telemetry-model]");
  if (!telemetry || !table) return;
  var rows = telemetry[table.getAttribute("data-telemetry-model")] || {};
  Array.prototype.forEach.call(table.querySelectorAll("tr[data-endpoint]"), function (tr) {
    var cells = rows[tr.getAttribute("data-endpoint")];
    if (!cells) return;
    Array.prototype.forEach.call(tr.querySelectorAll("td[data-telemetry]"), function (td, i) {
      if (typeof cells[i] === "string") td.textContent = cells[i];
    });
  });
})();
