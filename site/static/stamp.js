/*
 * What a page written once per change of its content cannot say (catalog/website/build.py, ENTITY_PAGES): the
 * build's instant, the data's age, the as-of day, and on a model page the newest telemetry. Every build writes
 * them to build.js (self.catalogBuild) and telemetry.js (self.catalogTelemetry), loaded before this file; an
 * unchanged page is then the same bytes from build to build and is not written again.
 *
 *   self.catalogBuild = {"at": unix_seconds, "text": {"asof": str, "on-day": str}}
 *       each element with data-stamp="NAME" gets text[NAME] as its text (never as markup)
 *   self.catalogTelemetry = {model_id: [[uptime, latency, throughput], ...], ...}
 *       the table with data-telemetry-model="MODEL": its body's n-th row (the n-th endpoint, in the order of the
 *       page's inputs, which are this build's when the page is) gets the n-th texts in its last three cells
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
  var rows = telemetry[table.getAttribute("data-telemetry-model")] || [];
  var trs = table.tBodies.length ? table.tBodies[0].rows : [];
  if (trs.length !== rows.length) return; // not the rows this build knows: leave the dashes
  Array.prototype.forEach.call(trs, function (tr, n) {
    var cells = tr.cells;
    for (var i = 0; i < 3; i++) {
      var td = cells[cells.length - 3 + i];
      if (td && typeof rows[n][i] === "string") td.textContent = rows[n][i];
    }
  });
})();
