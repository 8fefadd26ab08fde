/*
 * Price-history charts, drawn with uPlot (static/vendor/uplot/) over the SVG the page carries for readers
 * without JavaScript. Loaded as a file after uPlot; no inline script (the pages' CSP forbids it).
 *
 * DATA CONTRACT (any page may use it: the model page, the compare view, the printable report)
 *
 *   <figure class="price-chart" data-chart="ID">
 *     ...the server-drawn fallback: any children with class "fallback" (an <svg>, its legend) are hidden
 *        once the chart is drawn...
 *   </figure>
 *   <script type="application/json" id="ID">{
 *     "title":  str,                        the chart's accessible name ("deepseek/deepseek-v3.2: cost of ...")
 *     "unit":   str,                        what a value is: "$ / M tokens", "$ per request"
 *     "series": [{"label": str,             one line; the legend's and the tooltip's name
 *                 "kind":  "endpoint" | "list",
 *                 "points": [[unix_seconds, number | null], ...]}, ...],
 *     "start":  unix_seconds, "end": unix_seconds     optional: the time axis (else the points' first and last)
 *     "extend": [index, ...]                optional: "end" is the last price event, not the build's instant;
 *                                           these series (still in force) go on at their last value to
 *                                           self.catalogBuild.at (build.js, written by every site build)
 *   }</script>
 *
 * Every figure.price-chart on the page is drawn from the JSON whose id its data-chart names. Lines are steps: a
 * point's value holds until the line's next point; null starts a gap (not listed then); a line still in force
 * ends with a point at "end". Numbers are floats for drawing and reading only: exact money stays in the tables.
 * Endpoint lines take Okabe & Ito's colour-blind-safe colours, six of them, then the same six with the next dash
 * pattern (eight), then all of that again thinner: no two lines share colour, dash and width before 96. "list"
 * lines are near-black with their own dashes. catalog/website/chart.py writes the model page's JSON and gives
 * its fallback SVG the same colours (c0..c5) and dashes (d0..d7).
 *
 * What a reader gets: a log / linear switch (log at first when the values span more than 10x); a legend whose
 * entries hide or show their line, each with "only" to show it alone, and "Show all"; a crosshair with a tooltip
 * of every shown line's price at that instant, cheapest first, and any change that line made that UTC day
 * (from -> to at what time), by mouse, by touch (drag sideways along the chart) or by keyboard (focus the chart,
 * then the arrow keys step from change to change). The chart spans its box's width and redraws when it changes.
 * Each figure gets a ``priceChart`` property ({plot, data, setLog(bool), setShown(index, bool), destroy()}) for
 * pages that drive it. A page that changes a figure's JSON (the compare view, when the reader picks other models)
 * calls ``window.PriceChart.draw(figure)``: it takes down the chart already there (its uPlot instance, its
 * controls and its resize watcher) and draws the figure again; ``destroy()`` alone leaves the fallback showing.
 */
(function () {
  "use strict";

  var uPlot = window.uPlot;
  if (typeof uPlot !== "function") return; // the library did not load: the SVG stays

  var COLOURS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7"];
  var DASHES = [[], [10, 5], [2, 4], [12, 4, 2, 4], [5, 3], [14, 3, 2, 3, 2, 3], [22, 5], [2, 3, 2, 3, 10, 3]];
  var LIST_COLOUR = "#1d2330";
  var LIST_DASHES = [[8, 3, 2, 3], [16, 5], [3, 3], []];
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  var DAY = 86400;
  var NARROW = 640; // below this width the tooltip sits under the chart instead of beside the cursor
  var SVG = "http://www.w3.org/2000/svg";
  var price = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 4 });
  var tick = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 3 });

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }

  function money(value) { return "$" + price.format(value); }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function dayText(seconds, year) {
    var d = new Date(seconds * 1000);
    return MONTHS[d.getUTCMonth()] + " " + d.getUTCDate() + (year ? " " + d.getUTCFullYear() : "");
  }

  function timeText(seconds) {
    var d = new Date(seconds * 1000);
    return pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes());
  }

  // -- a line's values --------------------------------------------------------------------------------------

  /** The value in force at ``t`` (null before the first point or in a gap). */
  function valueAt(points, t) {
    var lo = 0, hi = points.length - 1, found = -1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (points[mid][0] <= t) { found = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return found < 0 ? null : points[found][1];
  }

  /** The price moves of a line within the UTC day holding ``t``: [{at, from, to}], oldest first. */
  function movesOnDay(points, t) {
    var start = Math.floor(t / DAY) * DAY, moves = [];
    for (var i = 1; i < points.length; i++) {
      var at = points[i][0], from = points[i - 1][1], to = points[i][1];
      if (at >= start && at < start + DAY && from != null && to != null && from !== to) {
        moves.push({ at: at, from: from, to: to });
      }
    }
    return moves;
  }

  /** uPlot's aligned columns: every instant any line moves, each line's value then (carried forward). A line
   * that stops gets one more point a millisecond before its gap, so its last step is drawn to the gap. */
  function align(series, start, end) {
    var instants = {};
    instants[start] = true;
    instants[end] = true;
    series.forEach(function (s) {
      s.points.forEach(function (p, i) {
        instants[p[0]] = true;
        if (p[1] === null && i > 0 && s.points[i - 1][1] !== null) instants[p[0] - 0.001] = true;
      });
    });
    var xs = Object.keys(instants).map(Number).filter(function (x) { return x >= start && x <= end; });
    xs.sort(function (a, b) { return a - b; });
    var columns = [xs];
    series.forEach(function (s) {
      columns.push(xs.map(function (x) { return valueAt(s.points, x); }));
    });
    return columns;
  }

  // -- styles -------------------------------------------------------------------------------------------

  function styles(series) {
    var endpoints = 0, lists = 0;
    return series.map(function (s) {
      if (s.kind === "list") {
        var d = LIST_DASHES[lists++ % LIST_DASHES.length];
        return { colour: LIST_COLOUR, dash: d, width: 2 };
      }
      var n = endpoints++, round = Math.floor(n / COLOURS.length);
      return {
        colour: COLOURS[n % COLOURS.length],
        dash: DASHES[round % DASHES.length],
        width: round < DASHES.length ? 2 : 1, // past 48 lines (one recorded model has 39), thinner ones
      };
    });
  }

  function swatch(style) {
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 28 8");
    svg.setAttribute("width", "28");
    svg.setAttribute("height", "8");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("class", "swatch");
    var line = document.createElementNS(SVG, "line");
    line.setAttribute("x1", "0");
    line.setAttribute("y1", "4");
    line.setAttribute("x2", "28");
    line.setAttribute("y2", "4");
    line.setAttribute("stroke", style.colour);
    line.setAttribute("stroke-width", "2.5");
    if (style.dash.length) line.setAttribute("stroke-dasharray", style.dash.join(" "));
    svg.appendChild(line);
    return svg;
  }

  // -- axes -----------------------------------------------------------------------------------------------

  /** Log-axis ticks: 1, 2 and 5 of each decade in range, and 3 too over less than two decades (every digit
   * when that is too few). */
  function logSplits(min, max) {
    function pick(mantissas) {
      var out = [];
      for (var e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
        mantissas.forEach(function (m) {
          var v = Number((m * Math.pow(10, e)).toPrecision(6));
          if (v >= min && v <= max) out.push(v);
        });
      }
      return out;
    }
    var splits = pick(Math.log10(max / min) < 2 ? [1, 2, 3, 5] : [1, 2, 5]);
    if (splits.length < 3) splits = pick([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    if (splits.length < 2) { // a narrow range: evenly spaced in log space
      splits = [];
      for (var i = 0; i <= 3; i++) {
        splits.push(Number(Math.pow(10, Math.log10(min) + (Math.log10(max) - Math.log10(min)) * (i + 0.5) / 4).toPrecision(2)));
      }
    }
    return splits;
  }

  function span(columns, shown) {
    var lo = Infinity, hi = -Infinity;
    for (var i = 1; i < columns.length; i++) {
      if (!shown[i - 1]) continue;
      columns[i].forEach(function (v) {
        if (v != null && v > 0) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      });
    }
    return lo === Infinity ? null : [lo, hi];
  }

  // -- one chart ------------------------------------------------------------------------------------------

  function draw(figure) {
    if (figure.priceChart) figure.priceChart.destroy(); // drawn before: from scratch, from the JSON as it is now
    var source = document.getElementById(figure.getAttribute("data-chart") || "");
    if (!source) return;
    var data;
    try { data = JSON.parse(source.textContent); } catch (e) { return; }
    if (!data || !Array.isArray(data.series) || !data.series.length) return;
    var series = data.series;
    var all = [];
    series.forEach(function (s) { s.points.forEach(function (p) { all.push(p[0]); }); });
    if (!all.length) return;
    var start = data.start != null ? data.start : Math.min.apply(null, all);
    var end = data.end != null ? data.end : Math.max.apply(null, all);
    var built = self.catalogBuild; // (not "build": draw's own function of that name)
    if (Array.isArray(data.extend) && data.end != null && built && typeof built.at === "number" && built.at > end) {
      // A model page is written once per price change; the build it is served from says how far "now" is.
      series = series.map(function (s, i) {
        var last = s.points[s.points.length - 1];
        if (data.extend.indexOf(i) < 0 || !last || last[1] === null) return s;
        var copy = {};
        Object.keys(s).forEach(function (k) { copy[k] = s[k]; });
        copy.points = s.points.concat([[built.at, last[1]]]);
        return copy;
      });
      end = built.at;
    }
    if (end <= start) end = start + 3600;
    var columns = align(series, start, end);
    var look = styles(series);
    var shown = series.map(function () { return true; });
    var whole = span(columns, shown);
    var canLog = whole !== null;
    var log = canLog && whole[1] / whole[0] > 10;
    var plot = null;

    // The pieces around the canvas.
    var bar = el("div", "chart-bar");
    var scale = el("span", "chart-scale");
    scale.setAttribute("role", "group");
    scale.setAttribute("aria-label", "Price axis");
    var logButton = el("button", null, "Log");
    var linearButton = el("button", null, "Linear");
    [logButton, linearButton].forEach(function (b) { b.type = "button"; scale.appendChild(b); });
    logButton.disabled = !canLog;
    var allButton = el("button", "chart-all", "Show all");
    allButton.type = "button";
    var unit = el("span", "chart-unit", data.unit || "");
    var note = el("span", "chart-note");
    bar.appendChild(scale);
    bar.appendChild(allButton);
    bar.appendChild(unit);
    bar.appendChild(note);
    var wrap = el("div", "chart-plot");
    wrap.setAttribute("role", "img");
    wrap.setAttribute("aria-label", (data.title || "Price history") + " (" + (data.unit || "") + ")");
    wrap.tabIndex = 0;
    var tip = el("div", "chart-tip");
    tip.hidden = true;
    var legend = el("ul", "chart-legend");
    var entries = series.map(function (s, i) {
      var item = el("li");
      var toggle = el("button", "chart-series");
      toggle.type = "button";
      toggle.appendChild(swatch(look[i]));
      toggle.appendChild(el("span", null, s.label));
      var only = el("button", "chart-only", "only");
      only.type = "button";
      only.setAttribute("aria-label", "Show only " + s.label);
      toggle.addEventListener("click", function () { setShown(i, !shown[i]); });
      only.addEventListener("click", function () { showMany(function (j) { return j === i; }); });
      item.appendChild(toggle);
      item.appendChild(only);
      legend.appendChild(item);
      return { item: item, toggle: toggle };
    });
    figure.appendChild(bar);
    figure.appendChild(wrap);
    figure.appendChild(tip);
    figure.appendChild(legend);
    figure.classList.add("drawn");

    function fontPx() { // the canvas text takes the figure's CSS size, so the stylesheet decides it
      return parseFloat(getComputedStyle(figure).fontSize) || 12;
    }

    function size() {
      var width = Math.max(200, wrap.clientWidth);
      return { width: width, height: Math.round(Math.min(420, Math.max(260, width * 0.42))) };
    }

    function drawnColumns() { // a log axis has no place for $0: such a stretch is left out there
      if (!log) return columns;
      return columns.map(function (column, i) {
        return i === 0 ? column : column.map(function (v) { return v === 0 ? null : v; });
      });
    }

    function options() {
      var px = fontPx(), font = px + "px system-ui, -apple-system, \"Segoe UI\", Roboto, sans-serif";
      var axis = { stroke: "#5b6475", font: font, grid: { stroke: "#e3e7ee", width: 1 }, ticks: { stroke: "#c9cfd9", width: 1, size: 4 } };
      var dims = size();
      return {
        width: dims.width,
        height: dims.height,
        legend: { show: false },
        cursor: { y: false, points: { show: false }, drag: { x: false, y: false, setScale: false } },
        scales: {
          x: { time: true, range: function () { return [start, end]; } },
          y: log ? {
            distr: 3, log: 10,
            range: function (u, min, max) {
              var s = span(columns, shown) || [1, 10];
              return [s[0] / 1.3, s[1] * 1.3];
            },
          } : {
            range: function () {
              var s = span(columns, shown);
              return [0, s ? s[1] * 1.08 : 1];
            },
          },
        },
        axes: [
          Object.assign({}, axis, {
            space: px * 6,
            incrs: [3600, 3 * 3600, 6 * 3600, 12 * 3600, DAY, 2 * DAY, 3 * DAY, 7 * DAY, 14 * DAY, 28 * DAY, 56 * DAY],
            values: function (u, splits, axisIdx, space, incr) {
              return splits.map(function (s) { return incr < DAY ? timeText(s) : dayText(s); });
            },
            size: px * 2 + 10,
          }),
          Object.assign({}, axis, {
            space: px * 2.5,
            splits: log ? function (u, axisIdx, min, max) { return logSplits(min, max); } : undefined,
            filter: function (u, splits) { return splits; }, // uPlot's log filter would drop 3 (and 30, 0.3)
            values: function (u, splits) {
              return splits.map(function (v) { return v == null ? "" : "$" + tick.format(v); });
            },
            size: function (u, values) {
              var longest = (values || []).reduce(function (n, v) { return Math.max(n, String(v).length); }, 4);
              return Math.ceil(longest * px * 0.62) + 14;
            },
          }),
        ],
        series: [{}].concat(series.map(function (s, i) {
          return {
            label: s.label,
            show: shown[i],
            stroke: look[i].colour,
            width: look[i].width,
            dash: look[i].dash,
            spanGaps: false,
            points: { show: false },
            paths: uPlot.paths.stepped({ align: 1, alignGaps: 1 }),
          };
        })),
        hooks: { setCursor: [tooltip] },
      };
    }

    function build() {
      var left = plot && plot.cursor.left;
      if (plot) plot.destroy();
      plot = new uPlot(options(), drawnColumns(), wrap);
      figure.priceChart.plot = plot;
      plot.over.addEventListener("pointerdown", touch);
      plot.over.addEventListener("pointermove", touch);
      logButton.setAttribute("aria-pressed", String(log));
      linearButton.setAttribute("aria-pressed", String(!log));
      figure.setAttribute("data-scale", log ? "log" : "linear");
      explain();
      if (left != null && left >= 0) plot.setCursor({ left: left, top: 10 });
    }

    function setLog(on) {
      on = Boolean(on) && canLog;
      if (on === log) return;
      log = on;
      build();
    }

    function explain() {
      var zeros = log && columns.some(function (c, i) { return i > 0 && shown[i - 1] && c.indexOf(0) >= 0; });
      note.textContent = zeros ? "$0 is not drawn on a log axis" : "";
    }

    function setShown(i, on) {
      shown[i] = on;
      entries[i].toggle.setAttribute("aria-pressed", String(on));
      entries[i].item.classList.toggle("off", !on);
      if (plot) {
        plot.setSeries(i + 1, { show: on });
        tooltip(plot);
        explain();
      }
    }

    function showMany(which) { // one redraw for the lot
      var change = function () { shown.forEach(function (_, j) { setShown(j, which(j)); }); };
      if (plot) plot.batch(change); else change();
    }

    // A finger: touching or dragging sideways puts the crosshair there (uPlot follows only the mouse). The
    // overlay lets the page scroll vertically (CSS touch-action), so a sideways drag is the chart's.
    function touch(event) {
      if (event.pointerType === "mouse") return;
      var box = plot.over.getBoundingClientRect();
      var left = Math.min(Math.max(0, event.clientX - box.left), box.width);
      plot.setCursor({ left: left, top: Math.min(Math.max(0, event.clientY - box.top), box.height) });
    }

    // The keyboard: the arrow keys move the crosshair from one price move to the next.
    wrap.addEventListener("keydown", function (event) {
      if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") return;
      event.preventDefault();
      var xs = columns[0];
      var current = plot.cursor.left >= 0 ? plot.posToVal(plot.cursor.left, "x") : (event.key === "ArrowRight" ? start - 1 : end + 1);
      var next = null;
      for (var i = 0; i < xs.length; i++) {
        var x = xs[i] + 1; // just after the move: the new price
        if (event.key === "ArrowRight" && x > current + 1) { next = x; break; }
        if (event.key === "ArrowLeft" && x < current - 1) next = x;
      }
      if (next === null) return;
      plot.setCursor({ left: plot.valToPos(Math.min(next, end), "x"), top: 10 });
    });

    function tooltip(u) {
      var left = u.cursor.left;
      if (left == null || left < 0) {
        if (wrap.clientWidth >= NARROW) tip.hidden = true; // under the chart, the last reading stays
        return;
      }
      var t = u.posToVal(left, "x");
      var rows = [];
      series.forEach(function (s, i) {
        if (!shown[i]) return;
        var value = valueAt(s.points, t);
        if (value == null) return;
        rows.push({ index: i, value: value, moves: movesOnDay(s.points, t) });
      });
      rows.sort(function (a, b) { return a.value - b.value || a.index - b.index; });
      tip.textContent = "";
      tip.appendChild(el("p", "chart-tip-when", dayText(t, true) + ", " + timeText(t) + " UTC"));
      // Beside the cursor, a long list goes in two columns so it stays about the plot's height.
      var fit = Math.max(6, Math.floor((u.over.clientHeight - 24) / 21));
      var parts = wrap.clientWidth >= NARROW && rows.length > fit ? 2 : 1;
      var per = Math.max(1, Math.ceil(rows.length / parts));
      var holder = el("div", "chart-tip-cols");
      var body = null;
      rows.forEach(function (row, n) {
        if (n % per === 0) {
          var table = el("table");
          body = el("tbody");
          table.appendChild(body);
          holder.appendChild(table);
        }
        var s = series[row.index];
        var tr = el("tr", s.kind === "list" ? "list" : null);
        tr.setAttribute("data-label", s.label);
        var mark = el("td");
        mark.appendChild(swatch(look[row.index]));
        tr.appendChild(mark);
        tr.appendChild(el("th", null, s.label));
        tr.appendChild(el("td", "num price", money(row.value)));
        var moved = row.moves.map(function (m) {
          return timeText(m.at) + " " + money(m.from) + " \u2192 " + money(m.to);
        });
        tr.appendChild(el("td", "move", moved.join("; ")));
        body.appendChild(tr);
      });
      if (!rows.length) holder.appendChild(el("p", null, "No shown line has a price at this moment."));
      tip.appendChild(holder);
      tip.hidden = false;
      place(u, left);
    }

    function place(u, left) {
      var narrow = wrap.clientWidth < NARROW;
      tip.classList.toggle("below", narrow);
      if (narrow) {
        tip.style.left = "";
        tip.style.top = "";
        return;
      }
      var box = figure.getBoundingClientRect(), over = u.over.getBoundingClientRect();
      var x = over.left - box.left + left;
      var width = tip.offsetWidth;
      var at = x + 16 + width <= box.width ? x + 16 : Math.max(0, x - 16 - width);
      tip.style.left = at + "px";
      tip.style.top = over.top - box.top + 4 + "px";
    }

    logButton.addEventListener("click", function () { setLog(true); });
    linearButton.addEventListener("click", function () { setLog(false); });
    allButton.addEventListener("click", function () { showMany(function () { return true; }); });
    shown.forEach(function (_, i) { setShown(i, true); });

    var watcher = null;
    function destroy() { // the figure as the server sent it: the fallback shows again
      if (watcher) watcher.disconnect();
      if (plot) plot.destroy();
      plot = null;
      [bar, wrap, tip, legend].forEach(function (node) { if (node.parentNode) node.parentNode.removeChild(node); });
      figure.classList.remove("drawn");
      figure.removeAttribute("data-scale");
      delete figure.priceChart;
    }

    figure.priceChart = { plot: null, data: data, setLog: setLog, setShown: setShown, destroy: destroy };
    build();
    var width = wrap.clientWidth, px = fontPx();
    if (typeof ResizeObserver === "function") {
      watcher = new ResizeObserver(function () {
        if (!plot) return;
        if (wrap.clientWidth === width) return;
        width = wrap.clientWidth;
        if (fontPx() !== px) { // a narrower screen's stylesheet changed the text size: the axes too
          px = fontPx();
          build();
        } else plot.setSize(size());
      });
      watcher.observe(wrap);
    }
    return figure.priceChart;
  }

  // The entry point for pages that redraw a figure (see the contract above); returns its priceChart, or null
  // when there is nothing to draw (no JSON, no series, no points) and the figure keeps its fallback.
  window.PriceChart = { draw: function (figure) { return draw(figure) || null; } };

  Array.prototype.forEach.call(document.querySelectorAll("figure.price-chart"), draw);
})();
