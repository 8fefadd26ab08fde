/*
 * Progressive enhancement for the static pages: sortable tables, the index's filters, and workload sliders
 * that re-rank endpoints with cost.js. Every page is complete without it.
 */
(function () {
  "use strict";

  function $(selector, scope) { return (scope || document).querySelector(selector); }
  function $$(selector, scope) { return Array.prototype.slice.call((scope || document).querySelectorAll(selector)); }

  // -- sortable tables -------------------------------------------------------------------------------------
  function cellValue(row, index, numeric) {
    var cell = row.cells[index];
    var raw = cell ? cell.getAttribute("data-value") : null;
    if (raw === null) raw = cell ? cell.textContent.trim() : "";
    if (!numeric) return raw.toLowerCase();
    return raw === "" || raw === "None" ? null : Number(raw);
  }

  function sortTable(table, index, descending) {
    var th = table.tHead.rows[0].cells[index];
    var numeric = th.getAttribute("data-sort") === "num";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellValue(a, index, numeric), y = cellValue(b, index, numeric);
      if (x === y) return 0;
      if (x === null) return 1; // blanks last, either direction
      if (y === null) return -1;
      return (x < y ? -1 : 1) * (descending ? -1 : 1);
    });
    rows.forEach(function (row) { body.appendChild(row); });
    $$("th", table.tHead).forEach(function (cell) { cell.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
    table.setAttribute("data-sorted", index + (descending ? ":desc" : ":asc"));
  }

  function resort(table) {
    var state = table.getAttribute("data-sorted");
    if (!state) return;
    var parts = state.split(":");
    sortTable(table, Number(parts[0]), parts[1] === "desc");
  }

  // For the index's script (index.js): sort by a column and re-apply a table's sort after its rows change.
  window.PriceTables = { sort: sortTable, resort: resort };

  $$("table.sortable").forEach(function (table) {
    $$("th[data-sort]", table.tHead).forEach(function (th) {
      th.tabIndex = 0;
      function go() {
        var descending = th.getAttribute("aria-sort") === "ascending";
        sortTable(table, th.cellIndex, descending);
      }
      th.addEventListener("click", go);
      th.addEventListener("keydown", function (event) { if (event.key === "Enter") go(); });
    });
  });

  // -- copy buttons ----------------------------------------------------------------------------------------
  $$("button.copy").forEach(function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var text = source.textContent;
      var done = function () { button.textContent = "Copied"; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { selectText(source); });
      } else {
        selectText(source);
      }
    });
  });

  function selectText(node) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  // -- workload sliders ------------------------------------------------------------------------------------
  var dataNode = document.getElementById("price-data");
  var form = document.getElementById("workload");
  if (!dataNode || !form || !window.PriceCost) return;
  var cost = window.PriceCost;
  var data = cost.decode(JSON.parse(dataNode.textContent));
  form.hidden = false;

  var sliders = {
    input: document.getElementById("input"),
    output: document.getElementById("output"),
    cache_hit: document.getElementById("cache-hit"),
    reasoning: document.getElementById("reasoning")
  };
  // Exact token counts beside the two token sliders (the sliders only stop at round numbers), the shares in
  // whole percent beside theirs, and images.
  var exact = {
    input: document.getElementById("input-tokens"),
    output: document.getElementById("output-tokens"),
    cache_hit: document.getElementById("cache-hit-pct"),
    reasoning: document.getElementById("reasoning-pct")
  };
  var images = document.getElementById("images");
  var needs = {};
  ["tools", "structured_output", "reasoning"].forEach(function (code) {
    var box = document.getElementById("needs-" + code);
    if (box) needs[code] = box;
  });
  var steps = { input: data.input_steps, output: data.output_steps };

  // A whole non-negative number typed in a field, or null (empty, a fraction, a sign, an exponent).
  function count(field) {
    if (!field) return null;
    var text = String(field.value).trim();
    return /^[0-9]{1,12}$/.test(text) ? Number(text) : null;
  }

  function tokens(name) {
    var typed = count(exact[name]);
    return typed === null ? steps[name][Number(sliders[name].value)] : typed;
  }

  function profile() {
    return {
      input: tokens("input"),
      output: tokens("output"),
      cache_hit: Number(sliders.cache_hit.value),
      reasoning: Number(sliders.reasoning.value),
      images: count(images) || 0,
      needs: Object.keys(needs).reduce(function (out, code) { out[code] = needs[code].checked; return out; }, {})
    };
  }

  function showValues(p) {
    $("#input-out").textContent = p.input.toLocaleString("en-US");
    $("#output-out").textContent = p.output.toLocaleString("en-US");
    $("#cache-hit-out").textContent = p.cache_hit + " %";
    $("#reasoning-out").textContent = p.reasoning + " %";
  }

  // The slider's stop at or below a typed count, so the slider shows roughly where the exact count is.
  function nearestStep(name, value) {
    var index = 0;
    steps[name].forEach(function (step, i) { if (step <= value) index = i; });
    return index;
  }

  function setCost(cell, units, p) {
    var span = document.createElement("span");
    span.title = "$" + cost.decimal(units, data.scale);
    span.textContent = cost.usd(units, data.scale);
    cell.textContent = "";
    cell.appendChild(span);
    cell.setAttribute("data-value", cost.decimal(units, data.scale));
  }

  function updateModel(p, table) {
    var model = data.models[0];
    var body = table.tBodies[0];
    var rows = {};
    $$("tr", body).forEach(function (row) { rows[row.getAttribute("data-key")] = row; });
    var result = cost.ranking(model, p, data);
    var ranked = result.ranked;
    ranked.forEach(function (entry) {
      var row = rows[entry.endpoint.key];
      if (!row) return;
      row.querySelector("td.rank").textContent = String(entry.rank);
      row.querySelector("td.label").textContent = entry.rank === 1 ? "Cheapest" : "";
      setCost(row.querySelector("td.cost"), entry.units, p);
      var m = cost.perMillion(entry.units, p, data.scale);
      row.querySelector("td.per-m").textContent = m === null ? "—" : m;
      row.classList.remove("excluded");
      body.appendChild(row);
      delete rows[entry.endpoint.key];
    });
    routeTo(ranked, p);
    showDefault(ranked, result.ties);
    var reasons = {};
    result.excluded.forEach(function (e) { reasons[e.endpoint.key] = e; });
    Object.keys(rows).forEach(function (key) {
      // Not ranked for this workload (it cannot take the request, or a dynamic tier): last, without a rank.
      var row = rows[key], costCell = row.querySelector("td.cost"), why = reasons[key];
      costCell.textContent = why && why.requirement !== "price" ? "cannot serve" : "dynamic";
      costCell.setAttribute("data-value", "");
      row.querySelector("td.rank").textContent = "—";
      row.querySelector("td.label").textContent = "";
      row.querySelector("td.per-m").textContent = "—";
      row.classList.add("excluded");
      body.appendChild(row);
    });
    var box = document.getElementById("custom-excluded"), list = box && box.querySelector("ul");
    if (list) {
      list.textContent = "";
      box.hidden = !result.excluded.length;
      result.excluded.forEach(function (e) {
        var item = document.createElement("li");
        item.setAttribute("data-key", e.endpoint.key);
        item.setAttribute("data-requirement", e.requirement);
        item.textContent = e.endpoint.tag + ": " + e.reason;
        list.appendChild(item);
      });
    }
  }

  // Default routing beside the pinned cheapest: the expected cost when OpenRouter load-balances by the
  // inverse square of each endpoint's cost, and what pinning saves.
  function showDefault(ranked, ties) {
    var node = document.getElementById("custom-default");
    if (!node) return;
    var d = cost.defaultRouting(ranked);
    var cheapest = ranked.slice(0, ties).map(function (r) { return r.endpoint.tag; });
    if (!d) {
      node.textContent = "No endpoint can take this request at a listed price.";
      return;
    }
    var exactText = function (units) { return "$" + cost.decimal(units, data.scale); };
    var pinned = cost.usd(ranked[0].units, data.scale);
    var parts = [
      (ties > 1 ? ties + " endpoints tie as the cheapest (" + cheapest.join(", ") + ")" : "Cheapest: " + cheapest[0]) +
        " at " + pinned + " per request.",
      " Default routing (unpinned) would cost " + cost.usd(d.expected, data.scale) + " per request on average, spread over " +
        d.endpoints + " endpoint" + (d.endpoints === 1 ? "" : "s") + "; pinning saves " +
        cost.usd(d.saving, data.scale) + " (" + cost.hundredths(d.percent) + " %)."
    ];
    node.textContent = parts.join("");
    node.setAttribute("data-expected", cost.decimal(d.expected, data.scale));
    node.setAttribute("data-saving", cost.decimal(d.saving, data.scale));
    node.setAttribute("data-percent", cost.hundredths(d.percent));
    node.title = "expected " + exactText(d.expected) + ", saving " + exactText(d.saving);
  }

  // The routing snippet follows the ranking (cost.js builds the object as catalog cheapest does).
  function routeTo(ranked, p) {
    var snippet = document.getElementById("routing-snippet");
    if (!snippet) return;
    var label = document.getElementById("routing-for");
    if (label) label.textContent = "your workload";
    var provider = cost.routing(ranked, p);
    snippet.textContent = provider ? JSON.stringify({ provider: provider }, null, 2) :
      "no endpoint can take this request at a listed price";
  }

  var listeners = []; // the index's script (index.js) re-ranks its table on each change

  function update() {
    var p = profile();
    showValues(p);
    listeners.forEach(function (listener) { listener(p); });
    var custom = document.getElementById("custom-rank");
    if (custom) updateModel(p, custom);
  }

  Object.keys(sliders).forEach(function (name) {
    sliders[name].addEventListener("input", function () {
      if (exact[name]) exact[name].value = steps[name] ? String(steps[name][Number(sliders[name].value)]) : sliders[name].value;
      update();
    });
  });
  Object.keys(exact).forEach(function (name) {
    if (!exact[name]) return;
    exact[name].addEventListener("input", function () {
      var typed = count(exact[name]);
      // A share is the slider's own value (whole percent, up to 100); a token count only moves it near.
      if (typed !== null && steps[name]) sliders[name].value = String(nearestStep(name, typed));
      else if (typed !== null && typed <= 100) sliders[name].value = String(typed);
      update();
    });
  });
  if (images) images.addEventListener("input", update);
  Object.keys(needs).forEach(function (code) { needs[code].addEventListener("change", update); });
  $$("button[data-preset]", form).forEach(function (button) {
    button.addEventListener("click", function () {
      var preset = data.presets[button.getAttribute("data-preset")];
      sliders.input.value = String(data.input_steps.indexOf(preset.input));
      sliders.output.value = String(data.output_steps.indexOf(preset.output));
      if (exact.input) exact.input.value = String(preset.input);
      if (exact.output) exact.output.value = String(preset.output);
      if (images) images.value = "0";
      Object.keys(needs).forEach(function (code) { needs[code].checked = false; });
      sliders.cache_hit.value = String(preset.cache_hit);
      sliders.reasoning.value = String(preset.reasoning);
      if (exact.cache_hit) exact.cache_hit.value = String(preset.cache_hit);
      if (exact.reasoning) exact.reasoning.value = String(preset.reasoning);
      update();
    });
  });

  // What the index's script needs: the decoded data, the workload as set, and a call on each change.
  window.PriceWorkload = {
    data: data,
    profile: profile,
    update: update,
    onChange: function (listener) { listeners.push(listener); }
  };
})();
