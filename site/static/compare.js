/*
 * The compare page (compare.html): 2–4 models side by side for a workload, priced with cost.js (the engine's
 * formula on exact integers), their cost history overlaid on one chart, the choice and the workload kept in the
 * address (?models=a,b&input=…&output=…&cache_hit=…&reasoning=…&images=…&needs=tools,…) so it can be shared.
 * On the models list it adds a "compare" box to each row and a link to the page for the ticked ones.
 *
 * It runs before cost.js, app.js and chart.js: the chart data of the chosen models is in place before the chart
 * script draws it; the table is priced once every script has run (DOMContentLoaded). When the reader picks
 * other models, the figure (its SVG fallback and its data) is written again and handed to chart.js's
 * window.PriceChart.draw, so the interactive chart follows the choice.
 */
(function () {
  "use strict";

  var MAX = 4;
  var SVG = "http://www.w3.org/2000/svg";
  var table = document.getElementById("compare");
  var info = readJson("compare-data");

  function readJson(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  // -- the address ------------------------------------------------------------------------------------------------
  function params() { return new URLSearchParams(window.location.search); }

  function chosenFromUrl(known) {
    var text = params().get("models");
    if (text === null) return null;
    var out = [], unknown = [];
    text.split(",").forEach(function (id) {
      id = id.trim();
      if (!id || out.indexOf(id) >= 0) return;
      if (known(id)) out.push(id); else unknown.push(id);
    });
    return { ids: out.slice(0, MAX), unknown: unknown, dropped: Math.max(0, out.length - MAX) };
  }

  // Model ids keep their "/" and ":" in the address (both are allowed in a query): it stays readable.
  function idText(id) { return encodeURIComponent(id).replace(/%2F/g, "/").replace(/%3A/g, ":"); }

  // -- the chart: the data contract of the site's chart script, and an SVG for when it is not there ----------------
  function chartData(ids) {
    return {
      title: "Chat workload at the cheapest endpoint",
      unit: "$ per request",
      start: info.start,
      end: info.end,
      series: ids.map(function (id) {
        var m = info.models[id];
        return { label: id, kind: m.kind, points: m.points };
      })
    };
  }

  function money(value) {
    if (value === 0) return "$0";
    var digits = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(value))));
    var text = value.toFixed(digits);
    return "$" + (text.indexOf(".") >= 0 ? text.replace(/0+$/, "").replace(/\.$/, "") : text);
  }

  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (parent) parent.appendChild(node);
    return node;
  }

  function logTicks(lo, hi) {
    var out = [];
    for (var e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      [1, 2, 5].forEach(function (m) {
        var t = Number(m + "e" + e);
        if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) out.push(t);
      });
    }
    return out;
  }

  // The geometry of catalog/website/compare.py's svg_chart: steps, a log axis past a 10× range.
  function svgChart(data, t0, t1) {
    var W = 720, H = 280, L = 72, R = 12, T = 12, B = 28, pw = W - L - R, ph = H - T - B;
    var values = [];
    data.series.forEach(function (s) { s.points.forEach(function (p) { if (p[1] !== null) values.push(p[1]); }); });
    if (!values.length) return null;
    var lo = Math.min.apply(null, values), hi = Math.max.apply(null, values);
    var log = lo > 0 && hi / lo > 10, bottom, top, ticks = [];
    if (log) { // framed by the 1-2-5 ticks around the data
      var below = logTicks(lo / 10, lo), above = logTicks(hi, hi * 10);
      below = below.length ? below[below.length - 1] : lo;
      above = above.length ? above[0] : hi;
      var pad = (Math.log10(above) - Math.log10(below)) * 0.03; // a line on a tick is not drawn on the frame
      bottom = Math.log10(below) - pad; top = Math.log10(above) + pad;
      ticks = logTicks(below, above);
    } else {
      bottom = 0; top = hi * 1.1 || 1;
      for (var i = 0; i < 5; i++) ticks.push(top / 1.1 * i / 4);
    }
    var x = function (t) { return L + (Math.min(Math.max(t, t0), t1) - t0) / ((t1 - t0) || 1) * pw; };
    var y = function (v) { return T + ph - ((log ? Math.log10(v) : v) - bottom) / ((top - bottom) || 1) * ph; };
    var f = function (n) { return String(Math.round(n * 10) / 10); };
    var svg = el("svg", { "class": "fallback", viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": data.title });
    var axis = el("g", { "class": "axis" }, svg);
    el("line", { x1: L, y1: H - B, x2: W - R, y2: H - B }, axis);
    ticks.forEach(function (t) {
      el("line", { "class": "grid", x1: L, y1: f(y(t)), x2: W - R, y2: f(y(t)) }, axis);
      el("text", { x: L - 4, y: f(y(t)), "class": "ylabel" }, axis).textContent = money(t);
    });
    var step = Math.max(1, Math.round((t1 - t0) / 86400 / 6)), start = new Date(t0 * 1000);
    var months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    for (var day = Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate()) / 1000 + 86400; day < t1; day += step * 86400) {
      var d = new Date(day * 1000);
      el("text", { x: f(x(day)), y: H - 8, "class": "xlabel" }, axis).textContent =
        months[d.getUTCMonth()] + " " + String(100 + d.getUTCDate()).slice(1);
    }
    data.series.forEach(function (s, index) {
      var parts = [], pts = s.points;
      pts.forEach(function (p, k) {
        if (p[1] === null) return;
        var next = k + 1 < pts.length ? pts[k + 1] : [t1, null];
        parts.push("M" + f(x(p[0])) + " " + f(y(p[1])) + "H" + f(Math.max(x(next[0]), x(p[0]) + 1)));
        if (next[1] !== null && next[0] < t1) parts.push("V" + f(y(next[1])));
      });
      var path = el("path", { "class": "series s" + (index % 8), d: parts.join("") }, svg);
      el("title", {}, path).textContent = s.label;
      var last = pts[pts.length - 1]; // a dot on the value at the as-of instant
      if (last && last[1] !== null) el("circle", { "class": "now s" + (index % 8), cx: f(x(last[0])), cy: f(y(last[1])), r: 4 }, svg);
    });
    return { svg: svg, log: log };
  }

  function drawChart(ids) {
    var figure = document.querySelector("figure.compare-chart");
    if (!figure || !info) return;
    var id = figure.getAttribute("data-chart"), data = chartData(ids);
    var fresh = document.createElement("figure");
    fresh.className = figure.className;
    fresh.setAttribute("data-chart", id);
    var drawn = svgChart(data, info.start, info.end);
    if (drawn) {
      fresh.appendChild(drawn.svg);
      var caption = document.createElement("figcaption"), legend = document.createElement("ul");
      caption.className = "fallback";
      legend.className = "legend series-legend";
      ids.forEach(function (mid, index) {
        var item = document.createElement("li");
        item.className = "s" + (index % 8);
        item.textContent = mid;
        legend.appendChild(item);
      });
      var unit = document.createElement("small");
      unit.textContent = data.unit + (drawn.log ? ", log scale (the costs span more than 10×)" : "");
      caption.appendChild(legend);
      caption.appendChild(unit);
      fresh.appendChild(caption);
    } else {
      var none = document.createElement("p");
      none.className = "note";
      none.textContent = ids.length ? "No priced version to chart." : "Choose models to see their history.";
      fresh.appendChild(none);
    }
    var script = document.createElement("script");
    script.type = "application/json"; // data, never run
    script.id = id;
    script.textContent = JSON.stringify(data);
    fresh.appendChild(script);
    if (figure.priceChart) figure.priceChart.destroy(); // the old uPlot instance and its resize watcher go
    figure.parentNode.replaceChild(fresh, figure);
    // chart.js draws every figure when it loads (after this script); later choices are drawn here.
    if (window.PriceChart) window.PriceChart.draw(fresh);
  }

  // The chosen models, drawn now (before any chart script runs) when the address names others than the page.
  var chosen = null, notes = [];
  if (table && info) {
    var fromUrl = chosenFromUrl(function (id) { return Object.prototype.hasOwnProperty.call(info.models, id); });
    var rendered = (table.getAttribute("data-models") || "").split(",").filter(Boolean);
    chosen = fromUrl ? fromUrl.ids : rendered;
    if (fromUrl && fromUrl.unknown.length) notes.push("not listed on " + document.title.split(" · ")[0] + ": " + fromUrl.unknown.join(", "));
    if (fromUrl && fromUrl.dropped) notes.push("at most " + MAX + " models: " + fromUrl.dropped + " left out");
    if (chosen.join(",") !== rendered.join(",")) {
      drawChart(chosen);
      table.setAttribute("data-models", chosen.join(","));
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (table && info) comparePage();
    var index = document.getElementById("models");
    if (index && index.tBodies.length) picker(index);
  });

  // -- the compare page ---------------------------------------------------------------------------------------------
  function comparePage() {
    var cost = window.PriceCost, dataNode = document.getElementById("price-data");
    if (!cost || !dataNode) return;
    var data = cost.decode(JSON.parse(dataNode.textContent));
    var byId = {};
    data.models.forEach(function (m) { byId[m.id] = m; });
    var form = document.getElementById("workload"), pick = document.getElementById("compare-pick");
    pick.hidden = false;
    var field = function (id) { return document.getElementById(id); };
    var steps = { input: data.input_steps, output: data.output_steps };
    var needCodes = ["tools", "structured_output", "reasoning"];

    function whole(node) {
      var text = node ? String(node.value).trim() : "";
      return /^[0-9]{1,12}$/.test(text) ? Number(text) : null;
    }
    function tokens(name) {
      var typed = whole(field(name + "-tokens"));
      return typed === null ? steps[name][Number(field(name).value)] : typed;
    }
    function profile() {
      var needs = {};
      needCodes.forEach(function (code) { var box = field("needs-" + code); needs[code] = !!(box && box.checked); });
      return {
        input: tokens("input"), output: tokens("output"), cache_hit: Number(field("cache-hit").value),
        reasoning: Number(field("reasoning").value), images: whole(field("images")) || 0, needs: needs
      };
    }

    // The workload in the address, set on the form (app.js hears the events and moves its sliders and readouts).
    function fire(node, type) { node.dispatchEvent(new Event(type, { bubbles: true })); }
    var q = params();
    ["input", "output"].forEach(function (name) {
      var n = q.get(name);
      if (n !== null && /^[0-9]{1,12}$/.test(n)) { field(name + "-tokens").value = n; fire(field(name + "-tokens"), "input"); }
    });
    [["cache_hit", "cache-hit"], ["reasoning", "reasoning"]].forEach(function (pair) {
      var n = q.get(pair[0]);
      if (n !== null && /^[0-9]{1,3}$/.test(n) && Number(n) <= 100) { field(pair[1]).value = n; fire(field(pair[1]), "input"); }
    });
    if (q.get("images") !== null && /^[0-9]{1,6}$/.test(q.get("images"))) { field("images").value = q.get("images"); fire(field("images"), "input"); }
    (q.get("needs") || "").split(",").forEach(function (code) {
      var box = field("needs-" + code);
      if (box) { box.checked = true; fire(box, "change"); }
    });

    function address(p) {
      var chat = data.presets[data.default_preset], parts = ["models=" + chosen.map(idText).join(",")];
      if (p.input !== chat.input) parts.push("input=" + p.input);
      if (p.output !== chat.output) parts.push("output=" + p.output);
      if (p.cache_hit) parts.push("cache_hit=" + p.cache_hit);
      if (p.reasoning) parts.push("reasoning=" + p.reasoning);
      if (p.images) parts.push("images=" + p.images);
      var needs = needCodes.filter(function (code) { return p.needs[code]; });
      if (needs.length) parts.push("needs=" + needs.join(","));
      return "?" + parts.join("&");
    }

    function text(cell, value, title) {
      cell.textContent = value;
      if (title !== undefined) cell.title = title;
      return cell;
    }
    function small(parent, value) {
      var node = document.createElement("small");
      node.textContent = value;
      parent.appendChild(document.createElement("br"));
      parent.appendChild(node);
    }

    function describe(p) {
      var words = p.input.toLocaleString("en-US") + " tokens in" + (p.cache_hit ? " (" + p.cache_hit + " % cached)" : "") + ", " +
        p.output.toLocaleString("en-US") + " out" + (p.reasoning ? " (" + p.reasoning + " % reasoning)" : "");
      if (p.images) words += ", " + p.images + " image" + (p.images === 1 ? "" : "s");
      var needs = needCodes.filter(function (code) { return p.needs[code]; });
      if (needs.length) words += "; uses " + needs.join(", ").replace("_", " ");
      return "Workload, per request: " + words + ".";
    }

    var headers = Array.prototype.map.call(table.tHead.rows[0].cells, function (th) { return th.textContent; });

    function render() {
      var p = profile(), body = table.tBodies[0];
      body.textContent = "";
      var results = chosen.map(function (id) {
        var model = byId[id], r = cost.ranking(model, p, data), ranked = r.ranked;
        var endpoints = ranked.filter(function (e) { return !e.endpoint.list; });
        return { id: id, ranked: ranked, endpoints: endpoints, excluded: r.excluded, ties: r.ties };
      });
      var least = null;
      results.forEach(function (r) { if (r.ranked.length && (least === null || r.ranked[0].units < least)) least = r.ranked[0].units; });
      results.forEach(function (r) {
        var m = info.models[r.id], row = body.insertRow();
        row.setAttribute("data-id", r.id);
        var name = row.insertCell(), link = document.createElement("a");
        link.href = m.page;
        link.textContent = m.name;
        name.appendChild(link);
        name.appendChild(document.createElement("br"));
        name.appendChild(text(document.createElement("small"), r.id));
        var costCell = row.insertCell(), versus = row.insertCell(), perM = row.insertCell();
        var via = row.insertCell(), next = row.insertCell(), count = row.insertCell(), context = row.insertCell(), list = row.insertCell();
        costCell.className = "num cost"; versus.className = "num versus"; perM.className = "num per-m";
        via.className = "via"; next.className = "next"; count.className = "num ranked"; context.className = "num"; list.className = "num";
        var first = r.ranked[0];
        if (!first) {
          var unfit = r.excluded.filter(function (e) { return e.requirement !== "price"; });
          text(costCell, unfit.length ? "none fits" : "dynamic",
            unfit.map(function (e) { return e.endpoint.tag + ": " + e.reason; }).join("; "));
          costCell.setAttribute("data-value", "");
          versus.setAttribute("data-value", "");
          [versus, perM, via, next].forEach(function (cell) { cell.textContent = "—"; });
        } else {
          var span = document.createElement("span");
          span.title = "$" + cost.decimal(first.units, data.scale);
          span.textContent = cost.usd(first.units, data.scale);
          costCell.appendChild(span);
          costCell.setAttribute("data-value", cost.decimal(first.units, data.scale));
          var extra = least === 0n ? null : cost.halfEven(10000n * (first.units - least), least);
          versus.setAttribute("data-value", extra === null ? "" : cost.hundredths(extra));
          text(versus, extra === null ? "—" : extra === 0n ? "cheapest" : "+" + cost.hundredths(extra) + " %");
          text(perM, cost.perMillion(first.units, p, data.scale) || "—");
          if (first.endpoint.list) {
            text(via, "list price");
            small(via, "(no endpoint ranked)");
          } else {
            text(via, first.endpoint.provider || first.endpoint.tag,
              r.ties > 1 ? r.ties + " endpoints tie at this cost: " + r.ranked.slice(0, r.ties).map(function (e) { return e.endpoint.tag; }).join(", ") : "");
            small(via, first.endpoint.tag + (r.ties > 1 ? " (" + r.ties + "-way tie)" : ""));
          }
          var dearer = r.endpoints.filter(function (e) { return e.units > first.units; })[0];
          if (dearer) { text(next, dearer.endpoint.tag); small(next, cost.usd(dearer.units, data.scale)); } else text(next, "—");
        }
        text(count, String(r.endpoints.length), r.excluded.length ? r.excluded.length + " cannot take this request" : "");
        text(context, m.context === null || m.context === undefined ? "—" : m.context.toLocaleString("en-US"));
        text(list, m.list.join(" / "));
        // Each cell names its column: on a phone a row is a card of labelled figures (compare.css).
        Array.prototype.forEach.call(row.cells, function (cell, i) { cell.setAttribute("data-label", headers[i] || ""); });
      });
      if (!chosen.length) {
        var empty = body.insertRow().insertCell();
        empty.colSpan = 9;
        empty.textContent = "Add two to four models to compare.";
      }
      field("compare-workload").textContent = describe(p);
      var here = address(p);
      field("compare-share").href = here;
      if (window.location.search !== here) window.history.replaceState(null, "", here);
      showChosen();
    }

    function showChosen() {
      var list = field("compare-chosen");
      list.textContent = "";
      chosen.forEach(function (id) {
        var item = document.createElement("li"), remove = document.createElement("button");
        item.textContent = id + " ";
        remove.type = "button";
        remove.textContent = "×";
        remove.setAttribute("aria-label", "remove " + id);
        remove.addEventListener("click", function () { choose(chosen.filter(function (c) { return c !== id; })); });
        item.appendChild(remove);
        list.appendChild(item);
      });
      field("compare-add").disabled = field("compare-add-button").disabled = chosen.length >= MAX;
      var note = notes.slice();
      if (chosen.length >= MAX) note.push("at most " + MAX + " models");
      else if (chosen.length < 2) note.push("add another model to compare");
      field("compare-note").textContent = note.join("; ");
    }

    // A new choice of models: the chart is drawn again for it, the table re-priced, the address updated.
    function choose(ids) {
      chosen = ids;
      notes = [];
      table.setAttribute("data-models", ids.join(","));
      drawChart(ids);
      render();
    }

    function add() {
      var input = field("compare-add"), typed = input.value.trim(), id = null;
      if (Object.prototype.hasOwnProperty.call(info.models, typed)) id = typed;
      else {
        var lower = typed.toLowerCase();
        Object.keys(info.models).some(function (key) {
          if (lower && (key.toLowerCase() === lower || info.models[key].name.toLowerCase() === lower)) { id = key; return true; }
          return false;
        });
      }
      if (id === null) { field("compare-note").textContent = typed ? "no model " + typed + " on this page" : ""; return; }
      input.value = "";
      if (chosen.indexOf(id) < 0 && chosen.length < MAX) choose(chosen.concat([id]));
    }
    field("compare-add-button").addEventListener("click", add);
    field("compare-add").addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); add(); }
    });
    field("compare-print").addEventListener("click", function () { window.print(); });
    // After app.js has handled the same event (it moves the sliders and readouts), the table follows.
    ["input", "change", "click"].forEach(function (type) { form.addEventListener(type, render); });
    render();
  }

  // -- the models list: tick up to four rows, then open them on the compare page -----------------------------------
  function picker(index) {
    var ticked = [], bar = document.createElement("p"), link = document.createElement("a");
    bar.className = "compare-bar";
    bar.hidden = true;
    bar.appendChild(link);
    index.parentNode.parentNode.insertBefore(bar, index.parentNode);
    function update() {
      bar.hidden = ticked.length === 0;
      link.href = "compare.html?models=" + ticked.map(idText).join(",");
      link.textContent = ticked.length < 2 ? "Tick another model to compare" : "Compare " + ticked.length + " models →";
      Array.prototype.forEach.call(index.querySelectorAll("input.pick"), function (box) {
        box.disabled = !box.checked && ticked.length >= MAX;
      });
    }
    Array.prototype.forEach.call(index.tBodies[0].rows, function (row) {
      var id = row.getAttribute("data-id"), cell = row.cells[0];
      if (!id || !cell || row.hasAttribute("data-unit")) return; // compare weighs token workloads only
      var box = document.createElement("input");
      box.type = "checkbox";
      box.className = "pick";
      box.title = "compare";
      box.setAttribute("aria-label", "compare " + id);
      box.addEventListener("change", function () {
        ticked = ticked.filter(function (t) { return t !== id; });
        if (box.checked) ticked.push(id);
        update();
      });
      cell.insertBefore(box, cell.firstChild);
    });
  }
})();
