// The dashboard's charts (uPlot, vendored): the last hour, fetched again every 10 seconds.
"use strict";

(function () {
  const box = document.getElementById("charts");
  if (!box || typeof uPlot === "undefined") return;
  const width = () => Math.max(320, box.clientWidth - 20);
  const charts = {};
  const specs = {
    "chart-requests": { title: "Requests per second", series: [["requests", "requests/s", "#1f6feb"], ["errors_4xx", "4xx/s", "#b26a00"], ["errors_5xx", "5xx/s", "#c62828"]] },
    "chart-latency": { title: "Latency (ms)", series: [["p50_ms", "p50", "#2e7d32"], ["p90_ms", "p90", "#b26a00"], ["p99_ms", "p99", "#c62828"]] },
    "chart-bytes": { title: "Bytes per second", series: [["bytes_in", "in", "#1f6feb"], ["bytes_out", "out", "#6a1b9a"]] },
  };

  const draw = (data) => {
    const s = data.series || {};
    const t = s.t || [];
    for (const [id, spec] of Object.entries(specs)) {
      const rows = [t, ...spec.series.map(([name]) => s[name] || [])];
      if (charts[id]) { charts[id].setData(rows); continue; }
      const opts = {
        title: spec.title, width: width(), height: 200,
        series: [{}, ...spec.series.map(([, label, color]) => ({ label, stroke: color, width: 2, spanGaps: false }))],
        axes: [{}, { size: 60 }],
      };
      charts[id] = new uPlot(opts, rows, document.getElementById(id));
    }
    const body = document.querySelector("#operations tbody");
    body.replaceChildren(...(data.operations || []).map((op) => {
      const tr = document.createElement("tr");
      for (const [value, numeric] of [[op.operation, false], [op.requests, true], [op.errors_4xx, true], [op.errors_5xx, true]]) {
        const td = document.createElement("td");
        td.textContent = typeof value === "number" ? Math.round(value) : value;
        if (numeric) td.className = "num";
        tr.append(td);
      }
      return tr;
    }));
    box.dataset.points = String(t.length);
  };

  const refresh = async () => {
    try {
      const answer = await fetch(box.dataset.source, { cache: "no-store", credentials: "same-origin" });
      if (answer.ok) draw(await answer.json());
    } catch (e) { /* the next refresh tries again */ }
  };
  refresh();
  setInterval(refresh, 10000);
  window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.setSize({ width: width(), height: 200 })));
})();
