/*
 * The index page: re-ranks every model for the workload (with its filters and "exclude free"), keeps the view
 * in the URL's query so it can be shared and reopened, and recomputes the price movers. Runs after app.js
 * (window.PriceWorkload, window.PriceTables) and cost.js; the page is complete without it.
 */
(function () {
  "use strict";

  var W = window.PriceWorkload, T = window.PriceTables, cost = window.PriceCost;
  var table = document.getElementById("models");
  if (!W || !T || !cost || !table) return;
  var data = W.data;

  function $(id) { return document.getElementById(id); }
  function $$(selector, scope) { return Array.prototype.slice.call((scope || document).querySelectorAll(selector)); }

  // -- the table -------------------------------------------------------------------------------------------
  var filterForm = $("filters"), free = $("exclude-free");

  // The search and the input modality choose models; provider, parameter and minimum context choose endpoints
  // (as EndpointFilters does), so a model's cost is its cheapest endpoint that passes; "exclude free" leaves out
  // free price sheets as `catalog cheapest --exclude-free` does.
  function filters() {
    var value = function (id) { var node = $(id); return node ? node.value : ""; };
    return {
      q: value("q").trim().toLowerCase(),
      modality: value("modality"),
      kind: value("kind"),
      endpoints: {
        provider: value("provider"), parameter: value("parameter"), min_context: Number(value("min-context") || 0),
        exclude_free: !!(free && free.checked)
      }
    };
  }

  function setCost(cell, units) {
    var span = document.createElement("span");
    span.title = "$" + cost.decimal(units, data.scale);
    span.textContent = cost.usd(units, data.scale);
    cell.textContent = "";
    cell.appendChild(span);
    cell.setAttribute("data-value", cost.decimal(units, data.scale));
  }

  function isPreset(p, preset) {
    return p.input === preset.input && p.output === preset.output && p.cache_hit === preset.cache_hit &&
      p.reasoning === preset.reasoning && !p.images && !Object.keys(p.needs).some(function (code) { return p.needs[code]; });
  }

  function updateTable(p) {
    var f = filters();
    var active = f.endpoints.provider || f.endpoints.parameter || f.endpoints.min_context;
    var shown = 0;
    $$("tbody tr", table).forEach(function (row) {
      var kind = row.getAttribute("data-kind") || "text";
      if (row.hasAttribute("data-unit")) {
        // A model priced in its own units: no token cost to recompute; its price per unit stays as built, out
        // of the cost sort. Its endpoints have no token parameters or context to filter by.
        var providers = (row.getAttribute("data-providers") || "").split(" ");
        row.hidden = !(
          (!f.q || row.textContent.toLowerCase().indexOf(f.q) >= 0) &&
          (!f.modality || (row.getAttribute("data-modalities") || "").split(" ").indexOf(f.modality) >= 0) &&
          (!f.kind || f.kind === kind) && !f.endpoints.parameter && !f.endpoints.min_context &&
          (!f.endpoints.provider || providers.indexOf(f.endpoints.provider) >= 0) &&
          !(f.endpoints.exclude_free && row.hasAttribute("data-free")));
        if (!row.hidden) shown += 1;
        return;
      }
      var model = data.models[Number(row.getAttribute("data-model"))];
      var result = model ? cost.ranking(model, p, data, f.endpoints) : { ranked: [], excluded: [], ties: 0 };
      var ranked = result.ranked;
      var modalities = (row.getAttribute("data-modalities") || "").split(" ");
      var onlyFree = f.endpoints.exclude_free && !ranked.length && model &&
        model.endpoints.length && model.endpoints.every(function (e) { return e.free; });
      var visible =
        (!f.q || row.textContent.toLowerCase().indexOf(f.q) >= 0) &&
        (!f.modality || modalities.indexOf(f.modality) >= 0) &&
        (!f.kind || f.kind === kind) &&
        (!active || ranked.length > 0) && !onlyFree;
      row.hidden = !visible;
      if (visible) shown += 1;
      var costCell = row.querySelector("td.cost"), via = row.querySelector("td.via"), perM = row.querySelector("td.per-m");
      if (!ranked.length) {
        // No endpoint can take this request, none has a price for it (a dynamic tier), or none is listed.
        var unfit = result.excluded.filter(function (e) { return e.requirement !== "price"; });
        costCell.textContent = unfit.length ? "none fits" : model && model.endpoints.length ? "dynamic" : "no endpoint";
        costCell.title = unfit.length ? unfit.map(function (e) { return e.endpoint.tag + ": " + e.reason; }).join("; ") : "";
        [costCell, via, perM].forEach(function (cell) { cell.setAttribute("data-value", ""); });
        via.textContent = "—";
        via.title = "";
        perM.textContent = "—";
        return;
      }
      costCell.title = "";
      setCost(costCell, ranked[0].units);
      via.textContent = ranked[0].endpoint.provider || ranked[0].endpoint.tag;
      via.setAttribute("data-value", via.textContent);
      via.title = result.ties > 1 ? result.ties + " endpoints tie at this cost: " +
        ranked.slice(0, result.ties).map(function (r) { return r.endpoint.tag; }).join(", ") : "";
      var m = cost.perMillion(ranked[0].units, p, data.scale);
      perM.textContent = m === null ? "—" : m;
      perM.setAttribute("data-value", m === null ? "" : m.slice(1));
    });
    // The change columns are the chat workload's at the cheapest endpoint of any provider: shown only then.
    var asRendered = !active && isPreset(p, data.presets[data.default_preset]);
    $$("td.change", table).forEach(function (cell) {
      if (!cell.hasAttribute("data-chat")) {
        cell.setAttribute("data-chat", cell.getAttribute("data-value") || "");
        cell.setAttribute("data-chat-text", cell.textContent);
      }
      cell.textContent = asRendered ? cell.getAttribute("data-chat-text") : "—";
      cell.setAttribute("data-value", asRendered ? cell.getAttribute("data-chat") : "");
      cell.title = asRendered ? "" : "the change columns are for the " + data.default_preset + " workload at any provider";
    });
    var counter = $("shown");
    if (counter) counter.textContent = shown + " of " + table.tBodies[0].rows.length + " models";
    T.resort(table);
  }

  // -- the movers ------------------------------------------------------------------------------------------
  var moversNode = $("movers-data"), movers = moversNode ? JSON.parse(moversNode.textContent) : null;
  var links = {}; // model index -> its link on the table
  $$("tbody tr", table).forEach(function (row) {
    links[row.getAttribute("data-model")] = row.querySelector("td a");
  });
  var thenModels = movers ? movers.then.map(function (window) {
    // Each model's entries then: the unchanged ones are the now side's (already decoded), the rest decoded here.
    var decoded = cost.decode({ models: window.models.map(function (m) {
      return { id: data.models[m.index].id, inputs: m.inputs, endpoints: m.endpoints };
    }) }).models;
    return window.models.map(function (m, i) {
      var now = data.models[m.index];
      return {
        index: m.index,
        model: { id: now.id, inputs: m.inputs, endpoints: m.same.map(function (k) { return now.endpoints[k]; }).concat(decoded[i].endpoints) }
      };
    });
  }) : [];

  // The percent change (new − old) / old in tenths, half to even, as the build spells it ("−85.9 %").
  function tenths(old, now) {
    var t = cost.halfEven((now - old) * 1000n, old);
    if (t === 0n) return "±0.0 %";
    var v = t < 0n ? -t : t;
    return (t > 0n ? "+" : "−") + (v / 10n).toString() + "." + (v % 10n).toString() + " %";
  }

  // Every model's move over each window for the workload, computed in the browser: [{cheaper, dearer}].
  function computed(p) {
    return thenModels.map(function (models, w) {
      var thenData = {
        scale: data.scale, rates: data.rates, parameters: data.parameters, needs: data.needs,
        at_minute: movers.then[w].at_minute
      };
      var moves = [];
      models.forEach(function (entry) {
        var now = cost.ranking(data.models[entry.index], p, data).ranked;
        var then = cost.ranking(entry.model, p, thenData).ranked;
        if (!now.length || !then.length) return;
        var old = then[0].units, units = now[0].units;
        if (old === 0n || old === units) return;
        moves.push({ index: entry.index, id: data.models[entry.index].id, old: old, now: units });
      });
      // By the exact fraction (now − old) / old, then model id: as the build ranks them.
      moves.sort(function (a, b) {
        var x = (a.now - a.old) * b.old, y = (b.now - b.old) * a.old;
        if (x !== y) return x < y ? -1 : 1;
        return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
      });
      var spell = function (m) { return [m.index, m.old, m.now, tenths(m.old, m.now)]; };
      var cheaper = moves.filter(function (m) { return m.now < m.old; });
      var dearer = moves.filter(function (m) { return m.now > m.old; });
      dearer.sort(function (a, b) { // largest rise first; equal rises by model id
        var x = (a.now - a.old) * b.old, y = (b.now - b.old) * a.old;
        if (x !== y) return x > y ? -1 : 1;
        return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
      });
      return { cheaper: cheaper.slice(0, movers.shown).map(spell), dearer: dearer.slice(0, movers.shown).map(spell) };
    });
  }

  // The build's answer (the engine's) for a preset workload, as BigInt units.
  function precomputed(name) {
    return movers.presets[name].map(function (window) {
      var out = {};
      ["cheaper", "dearer"].forEach(function (side) {
        out[side] = window[side].map(function (m) {
          return [m[0], cost.units(m[1], data.scale), cost.units(m[2], data.scale), m[3]];
        });
      });
      return out;
    });
  }

  function showMovers(p) {
    if (!movers) return;
    var preset = Object.keys(data.presets).filter(function (name) { return isPreset(p, data.presets[name]); })[0];
    var found = preset ? precomputed(preset) : computed(p);
    var label = $("movers-for");
    if (label) label.textContent = preset ? "for the " + movers.labels[preset] + " workload" : "for your workload";
    $$(".mover-list").forEach(function (box) {
      var moves = found[Number(box.getAttribute("data-window"))][box.getAttribute("data-side")];
      var list = box.querySelector("ol");
      list.textContent = "";
      moves.forEach(function (m) {
        var item = document.createElement("li"), link = links[String(m[0])];
        item.setAttribute("data-id", data.models[m[0]].id);
        var name = document.createElement("a");
        name.href = link ? link.getAttribute("href") : "#";
        name.textContent = link ? link.textContent : data.models[m[0]].id;
        var amounts = document.createElement("span");
        amounts.className = "amounts";
        var was = document.createElement("span"), now = document.createElement("span"), pct = document.createElement("span");
        was.textContent = cost.usd(m[1], data.scale);
        was.title = "$" + cost.decimal(m[1], data.scale);
        now.textContent = cost.usd(m[2], data.scale);
        now.title = "$" + cost.decimal(m[2], data.scale);
        pct.className = "pct " + (m[2] < m[1] ? "down" : "up");
        pct.textContent = m[3];
        amounts.appendChild(was);
        amounts.appendChild(document.createTextNode(" → "));
        amounts.appendChild(now);
        item.appendChild(name);
        item.appendChild(amounts);
        item.appendChild(pct);
        list.appendChild(item);
      });
      box.querySelector(".none").hidden = moves.length > 0;
    });
  }

  // -- the view in the URL ---------------------------------------------------------------------------------
  // Query keys: the workload (in, out, cache, reasoning, images, tools, structured, effort), the filters (q,
  // modality, kind, provider, parameter, ctx, free=0 when free models are shown) and the sort (sort=cost, -d7 …).
  // Only what differs from the page as built is written, so the plain address is the default view.
  var fields = [
    ["in", "input-tokens"], ["out", "output-tokens"], ["cache", "cache-hit-pct"], ["reasoning", "reasoning-pct"],
    ["images", "images"], ["q", "q"], ["modality", "modality"], ["kind", "kind"], ["provider", "provider"], ["parameter", "parameter"],
    ["ctx", "min-context"]
  ];
  var boxes = [["tools", "needs-tools"], ["structured", "needs-structured_output"], ["effort", "needs-reasoning"]];
  var defaults = {};
  fields.forEach(function (f) { if ($(f[1])) defaults[f[0]] = $(f[1]).value; });
  var columns = $$("th", table.tHead).map(function (th) { return th.getAttribute("data-key"); });
  var defaultSort = table.getAttribute("data-sorted") || "";

  function sortText() {
    var state = (table.getAttribute("data-sorted") || "").split(":");
    if (state.length < 2) return "";
    return (state[1] === "desc" ? "-" : "") + columns[Number(state[0])];
  }

  function writeUrl() {
    var query = new URLSearchParams();
    fields.forEach(function (f) {
      var node = $(f[1]);
      if (node && node.value !== defaults[f[0]] && node.value !== "") query.set(f[0], node.value.trim());
    });
    boxes.forEach(function (b) { if ($(b[1]) && $(b[1]).checked) query.set(b[0], "1"); });
    if (free && !free.checked) query.set("free", "1");
    var sorted = table.getAttribute("data-sorted") || "";
    if (sorted !== defaultSort && sortText()) query.set("sort", sortText());
    var text = query.toString();
    history.replaceState(null, "", location.pathname + (text ? "?" + text : "") + location.hash);
  }

  function readUrl() {
    var query = new URLSearchParams(location.search), changed = [];
    fields.forEach(function (f) {
      var node = $(f[1]), value = query.get(f[0]);
      if (!node || value === null) return;
      if (node.tagName === "SELECT" && !$$("option", node).some(function (o) { return o.value === value; })) return;
      node.value = value;
      changed.push(node);
    });
    boxes.forEach(function (b) {
      if ($(b[1]) && query.get(b[0]) === "1") { $(b[1]).checked = true; changed.push($(b[1])); }
    });
    if (free) free.checked = query.get("free") !== "1";
    return { changed: changed, sort: query.get("sort") };
  }

  function applySort(text) {
    if (!text) return;
    var descending = text.charAt(0) === "-", index = columns.indexOf(descending ? text.slice(1) : text);
    if (index >= 0) T.sort(table, index, descending);
  }

  // -- wiring ----------------------------------------------------------------------------------------------
  var state = readUrl();
  filterForm.hidden = false;
  var refresh = function () { updateTable(W.profile()); writeUrl(); };
  W.onChange(function (p) { updateTable(p); showMovers(p); writeUrl(); });
  ["q", "modality", "kind", "provider", "parameter", "min-context", "exclude-free"].forEach(function (id) {
    var node = $(id);
    if (node) node.addEventListener(node.type === "checkbox" ? "change" : "input", refresh);
  });
  new MutationObserver(writeUrl).observe(table, { attributes: true, attributeFilter: ["data-sorted"] });
  // The workload fields from the URL go through app.js's own handlers (they move the sliders to match).
  state.changed.forEach(function (node) {
    if (node.id.indexOf("needs-") === 0) node.dispatchEvent(new Event("change"));
    else if (fields.slice(0, 5).some(function (f) { return f[1] === node.id; })) node.dispatchEvent(new Event("input"));
  });
  W.update();
  applySort(state.sort);
})();
