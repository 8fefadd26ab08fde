/*
 * The changes page: filter every recorded change by kind, model and provider, a page of rows at a time, newest
 * first; the view lives in the URL's query (kind, model, provider, page). The rows are data (formatted by the
 * build), one script a month (changes/YYYY-MM.js, loaded by the page before this one, newest month first), so
 * nothing is fetched; without this script the newest rows show as rendered.
 */
(function () {
  "use strict";

  function $(id) { return document.getElementById(id); }
  var node = $("changes-data"), table = $("change-log"), form = $("change-filters");
  if (!node || !table || !form) return;
  var data = JSON.parse(node.textContent);
  // Each month's rows name their model by its place in the month's own list: here, by its place in the page's.
  var place = {};
  data.models.forEach(function (m, i) { place[m[0]] = i; });
  data.rows = [];
  (self.catalogChanges || []).forEach(function (month) {
    month.rows.forEach(function (r) {
      var row = r.slice();
      row[1] = place[month.models[r[1]]];
      data.rows.push(row);
    });
  });
  var root = (document.querySelector("header.top a.brand").getAttribute("href") || "index.html").replace(/index\.html$/, "");
  var kind = $("change-kind"), model = $("change-model"), provider = $("change-provider");
  var pager = $("change-pager"), newer = $("change-newer"), older = $("change-older"), label = $("change-page");
  var page = 1;

  // Row: [when, model index, kind, endpoint, field, old, new, change, diff, provider slug].
  function matches(row) {
    var wanted = model.value.trim().toLowerCase(), id = data.models[row[1]][0].toLowerCase();
    var exact = data.models.some(function (m) { return m[0].toLowerCase() === wanted; });
    if (kind.value && row[2] !== kind.value) return false;
    if (wanted && (exact ? id !== wanted : id.indexOf(wanted) < 0)) return false;
    if (provider.value === "list") return row[9] === "";
    return !provider.value || row[9] === provider.value;
  }

  function cell(row, text, className) {
    var td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function render() {
    var found = data.rows.filter(matches);
    var pages = Math.max(1, Math.ceil(found.length / data.page_size));
    if (page > pages) page = pages;
    if (page < 1) page = 1;
    var body = table.tBodies[0];
    body.textContent = "";
    found.slice((page - 1) * data.page_size, page * data.page_size).forEach(function (r) {
      var tr = document.createElement("tr");
      cell(tr, r[0], "when");
      var m = data.models[r[1]], td = cell(tr, m[1] ? "" : m[0], "model");
      if (m[1]) {
        var a = document.createElement("a");
        a.href = root + m[1];
        a.textContent = m[0];
        td.appendChild(a);
      }
      cell(tr, r[2]);
      cell(tr, r[3]);
      cell(tr, r[4]);
      cell(tr, r[5], "num");
      cell(tr, r[6], "num");
      var move = cell(tr, r[7], "num move");
      if (r[8]) move.title = r[8];
      body.appendChild(tr);
    });
    $("change-count").textContent = found.length + " of " + data.rows.length + " changes";
    pager.hidden = false;
    label.textContent = found.length ? "page " + page + " of " + pages : "no change matches";
    newer.disabled = page <= 1;
    older.disabled = page >= pages;
    writeUrl();
  }

  function writeUrl() {
    var query = new URLSearchParams();
    if (kind.value) query.set("kind", kind.value);
    if (model.value.trim()) query.set("model", model.value.trim());
    if (provider.value) query.set("provider", provider.value);
    if (page > 1) query.set("page", String(page));
    var text = query.toString();
    history.replaceState(null, "", location.pathname + (text ? "?" + text : "") + location.hash);
  }

  function readUrl() {
    var query = new URLSearchParams(location.search);
    var choose = function (select, value) {
      if (value !== null && Array.prototype.some.call(select.options, function (o) { return o.value === value; })) select.value = value;
    };
    choose(kind, query.get("kind"));
    choose(provider, query.get("provider"));
    if (query.get("model")) model.value = query.get("model");
    var n = Number(query.get("page"));
    page = n >= 1 && Math.floor(n) === n ? n : 1;
  }

  readUrl();
  form.hidden = false;
  [kind, provider].forEach(function (select) { select.addEventListener("change", function () { page = 1; render(); }); });
  model.addEventListener("input", function () { page = 1; render(); });
  newer.addEventListener("click", function () { page -= 1; render(); table.scrollIntoView(); });
  older.addEventListener("click", function () { page += 1; render(); table.scrollIntoView(); });
  render();
})();
