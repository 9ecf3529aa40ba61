// The model page's charts (plotly.js): loss and accuracy curves, live while training, and
// the confusion-matrix heat map.
"use strict";

(() => {
  const data = JSON.parse(document.getElementById("model-data").textContent);
  const config = { displayModeBar: false, responsive: true };
  const layout = (yTitle, range) => ({
    margin: { l: 48, r: 12, t: 8, b: 40 },
    height: 260,
    xaxis: { title: { text: "epoch" }, dtick: 1, rangemode: "tozero" },
    yaxis: { title: { text: yTitle }, range },
    legend: { orientation: "h", y: 1.12 },
    font: { family: "Inter, system-ui, sans-serif", size: 12 },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
  });
  const line = (name, color, dash) => ({
    x: [], y: [], name, mode: "lines+markers", line: { color, dash }, marker: { size: 5 },
  });
  const curves = {
    "loss-chart": { keys: ["loss", "val_loss"], layout: layout("loss") },
    "accuracy-chart": { keys: ["accuracy", "val_accuracy"], layout: layout("accuracy", [0, 1.02]) },
  };
  for (const [id, chart] of Object.entries(curves)) {
    Plotly.newPlot(id, [
      line(chart.keys[0].replace("_", " "), "#4f46e5"),
      line(chart.keys[1].replace("_", " "), "#f59e0b", "dot"),
    ], chart.layout, config);
  }

  function addEpoch(entry) {
    for (const [id, chart] of Object.entries(curves)) {
      const values = chart.keys.map((key) => [entry[key]]);
      Plotly.extendTraces(id, { x: [[entry.epoch], [entry.epoch]], y: values }, [0, 1]);
    }
  }
  data.history.forEach(addEpoch);

  if (data.confusion && data.confusion.length) {
    const labels = data.classes;
    Plotly.newPlot("confusion-chart", [{
      type: "heatmap",
      z: data.confusion,
      x: labels,
      y: labels,
      colorscale: "Blues",
      reversescale: true,
      showscale: false,
      text: data.confusion.map((row) => row.map(String)),
      texttemplate: "%{text}",
      hovertemplate: "true %{y}, predicted %{x}: %{z}<extra></extra>",
    }], {
      margin: { l: 80, r: 12, t: 8, b: 60 },
      height: 300,
      xaxis: { title: { text: "predicted" }, side: "bottom" },
      yaxis: { title: { text: "true" }, autorange: "reversed" },
      font: { family: "Inter, system-ui, sans-serif", size: 12 },
      paper_bgcolor: "rgba(0,0,0,0)",
    }, config);
  }

  if (data.job_id) TinyLive.followJob({ onMetric: addEpoch, reloadWhenDone: true });
})();
