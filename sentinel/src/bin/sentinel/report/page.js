"use strict";
// Renders the report from the JSON in #data. Every text from the data goes in through
// textContent or an attribute value, never as markup.
(function () {
  var data = JSON.parse(document.getElementById("data").textContent);
  var SVG = "http://www.w3.org/2000/svg";

  function el(tag, className, text) {
    var e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function svgEl(tag, attrs) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  }
  function ms(x) {
    if (x < 1) return (x * 1000).toFixed(0) + " µs";
    if (x < 1000) return x.toFixed(2) + " ms";
    return (x / 1000).toFixed(2) + " s";
  }
  function when(unixMs) {
    return new Date(unixMs).toISOString().replace("T", " ").replace("Z", " UTC");
  }
  function tagText(v) {
    return typeof v === "string" ? v : JSON.stringify(v);
  }

  // === header ===
  document.getElementById("inputs").textContent =
    data.inputs.length ? "Inputs: " + data.inputs.join(", ") : "";
  document.getElementById("range").textContent = data.range
    ? "From " + when(data.range[0]) + " to " + when(data.range[1]) +
      " (" + ms(data.range[1] - data.range[0]) + ")"
    : "No spans.";
  var c = data.counts;
  var counts = document.getElementById("counts");
  [["spans", c.spans, false], ["traces", c.traces, false], ["names", c.names, false],
   ["errors", c.errors, c.errors > 0], ["cancelled", c.cancelled, false]].forEach(function (x) {
    var li = el("li", x[2] ? "bad" : "");
    var b = el("b", "", x[1]);
    b.id = "count-" + x[0];
    li.appendChild(b);
    li.appendChild(document.createTextNode(x[0]));
    counts.appendChild(li);
  });
  var notes = document.getElementById("notes");
  [[c.not_spans, "records without a duration (not spans) not shown"],
   [c.mistyped, "records whose duration_ms is not a number skipped"],
   [c.malformed, "lines that are not records skipped"],
   [c.oversized, "over-long lines skipped"],
   [c.no_time, "spans without a timestamp not shown"],
   [c.bad_ids, "spans without valid trace and span ids not shown"],
   [c.dropped_by_logger, "records were dropped by the logger (marked in the files)"]].forEach(function (x) {
    if (x[0] > 0) notes.appendChild(el("li", "", x[0] + " " + x[1]));
  });
  document.getElementById("generator").textContent = "Written by " + data.generator + ".";
  document.title = "sentinel report" + (data.inputs.length ? ": " + data.inputs.join(", ") : "");

  // === per-name table ===
  var columns = [
    ["name", "name", String], ["count", "count", String], ["errors", "errors", String],
    ["error_rate_pct", "err%", function (v) { return v.toFixed(1) + "%"; }],
    ["p50_ms", "p50", ms], ["p95_ms", "p95", ms], ["p99_ms", "p99", ms], ["p999_ms", "p99.9", ms],
    ["max_ms", "max", ms], ["total_ms", "total", ms], ["self_ms", "self", ms],
    ["cancelled", "cancelled", String], ["slow", "slow", String]
  ];
  var table = document.getElementById("stats");
  var headRow = el("tr");
  var sortKey = "total_ms", sortAsc = false;
  function renderRows() {
    var rows = data.stats.slice().sort(function (a, b) {
      var x = a[sortKey], y = b[sortKey];
      var cmp = typeof x === "string" ? x.localeCompare(y) : x - y;
      return sortAsc ? cmp : -cmp;
    });
    var body = el("tbody");
    rows.forEach(function (r) {
      var tr = el("tr");
      columns.forEach(function (col) {
        var td = el("td", col[0] === "errors" && r.errors > 0 ? "bad" : "", col[2](r[col[0]]));
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    table.replaceChild(body, table.tBodies[0]);
    Array.prototype.forEach.call(headRow.children, function (th) {
      th.className = th.dataset.key === sortKey ? (sortAsc ? "sorted asc" : "sorted") : "";
    });
  }
  columns.forEach(function (col) {
    var th = el("th", "", col[1]);
    th.dataset.key = col[0];
    th.addEventListener("click", function () {
      if (sortKey === col[0]) sortAsc = !sortAsc;
      else { sortKey = col[0]; sortAsc = col[0] === "name"; }
      renderRows();
    });
    headRow.appendChild(th);
  });
  table.tHead.appendChild(headRow);
  renderRows();
  if (data.stats_left_out > 0) {
    document.getElementById("stats-note").textContent =
      data.stats_left_out + " more names with less total time are not listed.";
  }

  // === waterfalls ===
  function waterfall(t, open) {
    var box = el("details", "waterfall");
    box.open = open;
    var summary = el("summary", "", t.name);
    summary.appendChild(el("span", "meta", ms(t.duration_ms)));
    summary.appendChild(el("span", "meta status-" + t.status, t.status));
    summary.appendChild(el("span", "meta", "trace " + t.trace_id + " · " + when(t.start_ms)));
    box.appendChild(summary);
    var span = Math.max(t.duration_ms, 1e-6);
    t.spans.forEach(function (s) { span = Math.max(span, s.offset_ms + s.duration_ms); });
    var axis = el("div", "axis");
    [0, 0.25, 0.5, 0.75, 1].forEach(function (f) {
      var tick = el("span", "", ms(span * f));
      tick.style.left = (f * 100) + "%";
      axis.appendChild(tick);
    });
    box.appendChild(axis);
    t.spans.forEach(function (s) {
      var row = el("div", "row");
      var label = el("div", "label", s.name);
      label.style.paddingLeft = Math.min(s.depth, 30) * 12 + "px";
      var track = el("div", "track");
      var bar = el("div", "bar " + s.status);
      bar.style.left = (s.offset_ms / span * 100) + "%";
      bar.style.width = (s.duration_ms / span * 100) + "%";
      bar.appendChild(el("span", "dur", ms(s.duration_ms)));
      track.appendChild(bar);
      row.appendChild(label);
      row.appendChild(track);
      var tip = [s.name, ms(s.duration_ms) + " at +" + ms(s.offset_ms), "status: " + s.status];
      if (data.inputs.length > 1) tip.push("from: " + data.inputs[s.input]);
      if (s.error) tip.push("error: " + s.error);
      for (var k in s.tags) tip.push(k + " = " + tagText(s.tags[k]));
      row.title = tip.join("\n");
      box.appendChild(row);
    });
    if (t.spans_left_out > 0) {
      box.appendChild(el("p", "note", t.spans_left_out + " more spans of this trace are not drawn."));
    }
    return box;
  }
  var slowest = document.getElementById("slowest");
  data.slowest.forEach(function (t, i) { slowest.appendChild(waterfall(t, i === 0)); });
  if (!data.slowest.length) slowest.appendChild(el("p", "hint", "No traces."));
  var failed = document.getElementById("failed");
  data.failed.forEach(function (t, i) { failed.appendChild(waterfall(t, i === 0)); });
  if (!data.failed.length) failed.appendChild(el("p", "hint", "No failed traces."));
  if (data.failed_traces > data.failed.length) {
    document.getElementById("failed-note").textContent = data.failed_traces +
      " traces hold a failed span; the latest " + data.failed.length + " are shown.";
  }

  // === flame graph (roots on top) ===
  var W = 1200, ROW = 18;
  var depth = 0;
  (function measure(f, d) {
    depth = Math.max(depth, d);
    f.children.forEach(function (c) { measure(c, d + 1); });
  })(data.flame, 1);
  var svg = svgEl("svg", { viewBox: "0 0 " + W + " " + (depth * ROW + 4), role: "img" });
  function hue(name) {
    var h = 0;
    for (var i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
    return h;
  }
  var all = Math.max(data.flame.total_us, 1);
  function draw(f, x, d) {
    var w = f.total_us / all * W;
    var g = svgEl("g", { "class": "frame" });
    var h = hue(f.name);
    g.appendChild(svgEl("rect", {
      x: x.toFixed(2), y: d * ROW, width: Math.max(w, 0.5).toFixed(2), height: ROW - 1,
      fill: d === 0 ? "#c9ced6" : "hsl(" + (h % 50 + 5) + ", 85%, " + (58 + h % 15) + "%)"
    }));
    var title = svgEl("title", {});
    title.textContent = f.name + "\ntotal " + ms(f.total_us / 1000) + " (" +
      (f.total_us / all * 100).toFixed(2) + "%), self " + ms(f.self_us / 1000);
    g.appendChild(title);
    var fits = Math.floor((w - 6) / 6.5);
    if (fits >= 3) {
      var label = svgEl("text", { x: (x + 3).toFixed(2), y: d * ROW + 13 });
      label.textContent = f.name.length > fits ? f.name.slice(0, fits - 1) + "…" : f.name;
      g.appendChild(label);
    }
    svg.appendChild(g);
    var cx = x;
    f.children.forEach(function (c) { draw(c, cx, d + 1); cx += c.total_us / all * W; });
  }
  draw(data.flame, 0, 0);
  document.getElementById("flame").appendChild(svg);
  if (data.flame_left_out > 0) {
    document.getElementById("flame-note").textContent = data.flame_left_out +
      " call paths narrower than the graph can show are merged into their parent's self time.";
  }

  // The table sorts: by count, largest first, then back to the default order.
  var countHeader = headRow.querySelector('[data-key="count"]');
  countHeader.click();
  var shown = Array.prototype.map.call(table.tBodies[0].rows, function (r) { return Number(r.cells[1].textContent); });
  window.__reportSortOk = shown.every(function (v, i) { return i === 0 || shown[i - 1] >= v; });
  headRow.querySelector('[data-key="total_ms"]').click();
  window.__reportRendered = true;
})();
