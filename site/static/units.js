/*
 * The page of a model priced in its own units (video seconds, characters of speech, minutes of audio …):
 * re-ranks its endpoints for the amount and variant the reader chooses, and keeps them in the URL's query
 * (?count=…&variant=…). Runs after cost.js; the page is complete without it (it shows the default workload).
 *
 * The data (#unit-data, catalog/website/unitmodels.py): per variant, per endpoint, the SKU the shared ranking
 * (catalog.cost.units) prices it by, that SKU's exact USD price per its own unit as "<integer>e<exponent>", and
 * how many of its unit one counted unit is, [numerator, denominator] ([1, 60]: minutes on a price per hour);
 * which SKU applies never depends on the amount. The cost is amount × price × numerator ÷ denominator on BigInt,
 * as units.term computes it with Decimal: exact when the denominator is 1, else the division last, rounded half
 * to even to 10^-data.scale USD. Ranked as rank_endpoints ranks: by cost, then (units.tie_order) uptime over the
 * last day descending, throughput descending (missing last), then endpoint key.
 */
(function () {
  "use strict";

  var cost = window.PriceCost;
  var node = document.getElementById("unit-data"), form = document.getElementById("unit-form");
  var table = document.getElementById("unit-rank");
  if (!cost || !node || !form || !table) return;
  var data = JSON.parse(node.textContent);

  function $(id) { return document.getElementById(id); }
  var countInput = $("unit-count"), variantSelect = $("unit-variant");

  // A plain non-negative decimal ("12", "2.5") as {units, scale}; null for anything else.
  function parseCount(text) {
    var m = /^\s*(\d{1,15})(?:\.(\d{1,9}))?\s*$/.exec(text);
    if (!m) return null;
    var frac = m[2] || "";
    return { units: BigInt(m[1] + frac), scale: frac.length };
  }

  // "988e-6" (exact USD) as {units, scale}.
  function parsePrice(text) {
    var parts = String(text).split("e"), exponent = parts.length > 1 ? Number(parts[1]) : 0;
    if (exponent >= 0) return { units: BigInt(parts[0]) * 10n ** BigInt(exponent), scale: 0 };
    return { units: BigInt(parts[0]), scale: -exponent };
  }

  // count × price × numerator ÷ denominator as {units, scale} (units.term): a product is exact; a division is
  // done last and rounded half to even to 10^-data.scale USD.
  function termCost(count, p, numerator, denominator) {
    var units = count.units * p.units * numerator, scale = count.scale + p.scale;
    if (denominator === 1n) return { units: units, scale: scale };
    var top = units * 10n ** BigInt(data.scale), bottom = denominator * 10n ** BigInt(scale);
    var whole = top / bottom, twice = 2n * (top % bottom);
    if (twice > bottom || (twice === bottom && whole % 2n === 1n)) whole += 1n;
    return { units: whole, scale: data.scale };
  }

  // Larger first, a missing figure last (null: not measured), as units.tie_order orders equal costs.
  function descending(a, b) {
    if (a == null || b == null) return a == null ? (b == null ? 0 : 1) : -1;
    return a > b ? -1 : a < b ? 1 : 0;
  }

  function amountText(count) {
    var text = cost.decimal(count.units, count.scale), dot = text.indexOf(".");
    var whole = dot < 0 ? text : text.slice(0, dot);
    var one = count.units === 10n ** BigInt(count.scale);
    return cost.grouped(BigInt(whole)) + (dot < 0 ? "" : text.slice(dot)) + " " + (one ? data.one : data.many);
  }

  function cell(row, className, text) {
    var td = document.createElement("td");
    if (className) td.className = className;
    if (text !== undefined) td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function render(count, variant) {
    var entries = data.options[variant] || [];
    var body = table.tBodies[0], summary = $("unit-summary"), heading = $("unit-workload");
    var excludedBox = $("unit-excluded");
    heading.textContent = amountText(count) + " " + data.of + (variant ? " at " + variant : "");
    var priced = [], excluded = data.excluded.map(function (e) { return { key: e[0], tag: e[1], reason: e[2] }; });
    entries.forEach(function (e) {
      if (e[3] === null) { excluded.push({ key: e[0], tag: e[1], reason: e[4] }); return; }
      var p = parsePrice(e[4]), c = termCost(count, p, BigInt(e[6][0]), BigInt(e[6][1]));
      priced.push({ key: e[0], tag: e[1], sku: e[3], shown: e[5], units: c.units, scale: c.scale,
                    uptime: e[7], throughput: e[8] });
    });
    // Every cost at one scale, so they compare as integers.
    var scale = priced.reduce(function (s, r) { return Math.max(s, r.scale); }, 0);
    priced.forEach(function (r) { r.units *= 10n ** BigInt(scale - r.scale); });
    priced.sort(function (a, b) {
      if (a.units !== b.units) return a.units < b.units ? -1 : 1;
      return descending(a.uptime, b.uptime) || descending(a.throughput, b.throughput) ||
        (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
    });
    body.textContent = "";
    priced.forEach(function (r, i) {
      var row = document.createElement("tr");
      row.setAttribute("data-key", r.key);
      // Equal costs share a rank (1, 1, 3), as on every page of the site.
      var rank = 1 + priced.filter(function (other) { return other.units < r.units; }).length;
      cell(row, "num rank", String(rank));
      var tag = cell(row, "", r.tag);
      if (r.units === priced[0].units) { // every endpoint tied with the first is the cheapest
        var small = document.createElement("small");
        small.textContent = "cheapest";
        tag.appendChild(document.createTextNode(" "));
        tag.appendChild(small);
      }
      var code = document.createElement("code");
      code.className = "sku";
      code.textContent = r.sku;
      cell(row, "").appendChild(code);
      cell(row, "num per-unit", r.shown);
      var c = cell(row, "num cost"), span = document.createElement("span");
      c.setAttribute("data-value", cost.decimal(r.units, scale));
      span.title = "$" + cost.decimal(r.units, scale);
      span.textContent = cost.usd(r.units, scale);
      c.appendChild(span);
      body.appendChild(row);
    });
    excluded.sort(function (a, b) { return a.key < b.key ? -1 : a.key > b.key ? 1 : 0; });
    var list = excludedBox.querySelector("ul");
    list.textContent = "";
    excluded.forEach(function (e) {
      var item = document.createElement("li");
      item.setAttribute("data-key", e.key);
      item.textContent = e.tag + ": " + e.reason;
      list.appendChild(item);
    });
    excludedBox.hidden = excluded.length === 0;
    summary.textContent = priced.length
      ? "Cheapest: " + priced[0].tag + " at " + cost.usd(priced[0].units, scale) + " (" + priced[0].shown + ")."
      : "No endpoint lists a price per " + data.one + (variant ? " at " + variant : "") + ": see the prices each one lists below.";
  }

  function update() {
    var count = parseCount(countInput.value), variant = variantSelect ? variantSelect.value : data.variant;
    var summary = $("unit-summary");
    if (count === null || count.units === 0n) {
      countInput.setAttribute("aria-invalid", "true");
      summary.textContent = "Give an amount above 0 as a plain number (e.g. 8 or 2.5).";
      return;
    }
    countInput.removeAttribute("aria-invalid");
    render(count, variant);
    var query = new URLSearchParams();
    if (cost.decimal(count.units, count.scale) !== String(data.count)) query.set("count", cost.decimal(count.units, count.scale));
    if (variant !== data.variant) query.set("variant", variant);
    var text = query.toString();
    history.replaceState(null, "", location.pathname + (text ? "?" + text : "") + location.hash);
  }

  var query = new URLSearchParams(location.search);
  if (query.get("count") !== null) countInput.value = query.get("count");
  if (variantSelect && query.get("variant") !== null && Object.prototype.hasOwnProperty.call(data.options, query.get("variant"))) {
    variantSelect.value = query.get("variant");
  }
  form.hidden = false;
  form.addEventListener("submit", function (event) { event.preventDefault(); });
  countInput.addEventListener("input", update);
  if (variantSelect) variantSelect.addEventListener("change", update);
  if (query.get("count") !== null || query.get("variant") !== null) update();
})();
