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

  function profile() {
    return {
      input: data.input_steps[Number(sliders.input.value)],
      output: data.output_steps[Number(sliders.output.value)],
      cache_hit: Number(sliders.cache_hit.value),
      reasoning: Number(sliders.reasoning.value)
    };
  }

  function showValues(p) {
    $("#input-out").textContent = p.input.toLocaleString("en-US");
    $("#output-out").textContent = p.output.toLocaleString("en-US");
    $("#cache-hit-out").textContent = p.cache_hit + " %";
    $("#reasoning-out").textContent = p.reasoning + " %";
  }

  function setCost(cell, units, p) {
    var span = document.createElement("span");
    span.title = "$" + cost.decimal(units, data.scale);
    span.textContent = cost.usd(units, data.scale);
    cell.textContent = "";
    cell.appendChild(span);
    cell.setAttribute("data-value", cost.decimal(units, data.scale));
  }

  // The index's filters: the search and the input modality choose models; provider, parameter and minimum
  // context choose endpoints (as EndpointFilters does), so a model's cost is its cheapest endpoint that passes.
  function indexFilters() {
    var value = function (id) { var node = document.getElementById(id); return node ? node.value : ""; };
    return {
      q: value("q").trim().toLowerCase(),
      modality: value("modality"),
      endpoints: { provider: value("provider"), parameter: value("parameter"), min_context: Number(value("min-context") || 0) }
    };
  }

  function updateIndex(p, table, rankByCost) {
    var f = indexFilters();
    var active = f.endpoints.provider || f.endpoints.parameter || f.endpoints.min_context;
    var shown = 0;
    $$("tbody tr", table).forEach(function (row) {
      var model = data.models[Number(row.getAttribute("data-model"))];
      var ranked = model ? cost.rank(model, p, data, f.endpoints) : [];
      var modalities = (row.getAttribute("data-modalities") || "").split(" ");
      var visible =
        (!f.q || row.textContent.toLowerCase().indexOf(f.q) >= 0) &&
        (!f.modality || modalities.indexOf(f.modality) >= 0) &&
        (!active || ranked.length > 0);
      row.hidden = !visible;
      if (visible) shown += 1;
      var costCell = row.querySelector("td.cost"), via = row.querySelector("td.via"), perM = row.querySelector("td.per-m");
      if (!ranked.length) {
        // No endpoint has a price for this workload (a dynamic tier), or the model has none listed.
        costCell.textContent = model && model.endpoints.length ? "dynamic" : "no endpoint";
        [costCell, via, perM].forEach(function (cell) { cell.setAttribute("data-value", ""); });
        via.textContent = "—";
        perM.textContent = "—";
        return;
      }
      setCost(costCell, ranked[0].units, p);
      via.textContent = ranked[0].endpoint.provider || ranked[0].endpoint.tag;
      via.setAttribute("data-value", via.textContent);
      var m = cost.perMillion(ranked[0].units, p, data.scale);
      perM.textContent = m === null ? "—" : m;
      perM.setAttribute("data-value", m === null ? "" : m.slice(1));
    });
    // The change columns are the chat workload's at the cheapest endpoint of any provider: shown only then.
    var chat = data.presets[data.default_preset], asRendered = !active && p.input === chat.input &&
      p.output === chat.output && p.cache_hit === chat.cache_hit && p.reasoning === chat.reasoning;
    $$("td.change", table).forEach(function (cell) {
      if (!cell.hasAttribute("data-chat")) {
        cell.setAttribute("data-chat", cell.getAttribute("data-value") || "");
        cell.setAttribute("data-chat-text", cell.textContent);
      }
      cell.textContent = asRendered ? cell.getAttribute("data-chat-text") : "—";
      cell.setAttribute("data-value", asRendered ? cell.getAttribute("data-chat") : "");
      cell.title = asRendered ? "" : "the change columns are for the " + data.default_preset + " workload at any provider";
    });
    var counter = document.getElementById("shown");
    if (counter) counter.textContent = shown + " of " + table.tBodies[0].rows.length + " models";
    if (rankByCost && !table.getAttribute("data-sorted")) sortTable(table, 1, false); // a new workload ranks by cost
    else resort(table);
  }

  function updateModel(p, table) {
    var model = data.models[0];
    var body = table.tBodies[0];
    var rows = {};
    $$("tr", body).forEach(function (row) { rows[row.getAttribute("data-key")] = row; });
    var ranked = cost.rank(model, p, data);
    ranked.forEach(function (entry, index) {
      var row = rows[entry.endpoint.key];
      if (!row) return;
      row.querySelector("td.rank").textContent = String(index + 1);
      setCost(row.querySelector("td.cost"), entry.units, p);
      var m = cost.perMillion(entry.units, p, data.scale);
      row.querySelector("td.per-m").textContent = m === null ? "—" : m;
      body.appendChild(row);
      delete rows[entry.endpoint.key];
    });
    routeTo(ranked);
    Object.keys(rows).forEach(function (key) {
      // Unpriced for this workload (a dynamic tier): last, without a rank or a stale figure.
      var row = rows[key], costCell = row.querySelector("td.cost");
      costCell.textContent = "dynamic";
      costCell.setAttribute("data-value", "");
      row.querySelector("td.rank").textContent = "—";
      row.querySelector("td.per-m").textContent = "—";
      body.appendChild(row);
    });
  }

  // The routing snippet follows the ranking: the cheapest tag first, the next two as ordered fallbacks (a tag
  // listed twice, model@tag#2, once), as catalog cheapest builds it.
  function routeTo(ranked) {
    var snippet = document.getElementById("routing-snippet");
    if (!snippet) return;
    var label = document.getElementById("routing-for");
    if (label) label.textContent = "your workload";
    if (!ranked.length) {
      snippet.textContent = "no endpoint has a listed price for this workload";
      return;
    }
    var order = [];
    ranked.forEach(function (entry) { if (order.indexOf(entry.endpoint.tag) < 0 && order.length < 3) order.push(entry.endpoint.tag); });
    snippet.textContent = JSON.stringify({ provider: { order: order, allow_fallbacks: false } }, null, 2);
  }

  function update() {
    var p = profile();
    showValues(p);
    var index = document.getElementById("models");
    if (index) updateIndex(p, index, true);
    var custom = document.getElementById("custom-rank");
    if (custom) updateModel(p, custom);
  }

  Object.keys(sliders).forEach(function (name) { sliders[name].addEventListener("input", update); });
  $$("button[data-preset]", form).forEach(function (button) {
    button.addEventListener("click", function () {
      var preset = data.presets[button.getAttribute("data-preset")];
      sliders.input.value = String(data.input_steps.indexOf(preset.input));
      sliders.output.value = String(data.output_steps.indexOf(preset.output));
      sliders.cache_hit.value = String(preset.cache_hit);
      sliders.reasoning.value = String(preset.reasoning);
      update();
    });
  });

  // -- index filters ---------------------------------------------------------------------------------------
  var filterForm = document.getElementById("filters");
  var modelsTable = document.getElementById("models");
  if (filterForm && modelsTable) {
    filterForm.hidden = false;
    ["q", "modality", "provider", "parameter", "min-context"].forEach(function (id) {
      document.getElementById(id).addEventListener("input", function () { updateIndex(profile(), modelsTable, false); });
    });
    document.getElementById("shown").textContent = modelsTable.tBodies[0].rows.length + " models";
  }
})();
