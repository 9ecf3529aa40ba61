// The search page's Pareto scatter (plotly.js): validation accuracy against RAM for every
// trained candidate, the front joined by a line, the board's RAM limit drawn.
"use strict";

(() => {
  const data = JSON.parse(document.getElementById("search-data").textContent);
  const trained = data.candidates.filter((c) => c.val_accuracy !== null);
  const ram = (c) => (c.measured_ram_bytes || c.ram_bytes) / 1024;
  const latency = (c) => c.measured_latency_ms || c.latency_ms;
  const size = (c) => (latency(c) ? 8 + 14 * Math.min(1, Math.log10(1 + latency(c)) / 3) : 10);
  const label = (c) =>
    `${c.label}<br>${c.status}, ${c.epochs_trained} epoch(s)<br>` +
    `accuracy ${(100 * c.val_accuracy).toFixed(1)}%<br>RAM ${ram(c).toFixed(1)} KiB` +
    (latency(c) ? `<br>~${latency(c).toFixed(1)} ms` : "");
  const front = trained
    .filter((c) => data.front.includes(c.id))
    .sort((a, b) => ram(a) - ram(b));
  const points = {
    x: trained.map(ram),
    y: trained.map((c) => c.val_accuracy),
    text: trained.map(label),
    customdata: trained.map((c) => c.id),
    hovertemplate: "%{text}<extra></extra>",
    mode: "markers",
    name: "candidates",
    marker: {
      size: trained.map(size),
      color: trained.map((c) => (c.id === data.recommended ? "#16a34a" : "#4f46e5")),
      opacity: 0.8,
    },
  };
  const frontLine = {
    x: front.map(ram),
    y: front.map((c) => c.val_accuracy),
    mode: "lines",
    name: "Pareto front",
    line: { color: "#f59e0b" },
    hoverinfo: "skip",
  };
  const limit = (x, dash, name) => ({
    type: "line", x0: x, x1: x, yref: "paper", y0: 0, y1: 1,
    line: { color: "#dc2626", dash }, name,
  });
  Plotly.newPlot("pareto-chart", [points, frontLine], {
    margin: { l: 56, r: 12, t: 8, b: 44 },
    xaxis: { title: { text: "RAM on the board (KiB)" }, rangemode: "tozero" },
    yaxis: { title: { text: "validation accuracy" }, range: [0, 1.02] },
    shapes: [limit(data.ram_limit / 1024, "solid"), limit(data.ram_margin_limit / 1024, "dash")],
    legend: { orientation: "h", y: 1.1 },
    font: { family: "Inter, system-ui, sans-serif", size: 12 },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
  }, { displayModeBar: false, responsive: true });
  // A click on a point brings its row's deploy button (compile and install) into view.
  document.getElementById("pareto-chart").on("plotly_click", (event) => {
    const row = document.getElementById(`candidate-${event.points[0].customdata}`);
    if (!row) return;
    row.scrollIntoView({ behavior: "smooth", block: "center" });
    row.classList.add("highlight");
    const button = row.querySelector("button");
    if (button) button.focus();
  });
})();
