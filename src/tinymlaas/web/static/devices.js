// Devices pages: creating a bridge (its token shown once), the device list kept live, and a
// device's page: the install form with its fit verdict, install progress, live predictions.
"use strict";

(() => {
  const REFRESH_MS = 3000;
  const CHART_POINTS = 60;
  const DRAW_EVERY_MS = 150;

  const { filesize, formatTime, showLocalTimes } = TinyApp;
  const percent = (value) => `${(value * 100).toFixed(1)}%`;
  const milliseconds = (value) =>
    value === null || value === undefined ? "—" : `${value.toFixed(value < 10 ? 2 : 1)} ms`;

  // One colour per class, the same in the score bars and the chart: the class's place among
  // every class seen on the page (sorted), in a fixed palette.
  const PALETTE = ["#4f46e5", "#f59e0b", "#059669", "#dc2626", "#0891b2", "#9333ea", "#65a30d",
    "#db2777", "#475569", "#ea580c"];
  function classColors(names) {
    const sorted = [...new Set(names)].sort();
    return (name) => PALETTE[Math.max(0, sorted.indexOf(name)) % PALETTE.length];
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  async function copy(button) {
    const source = document.getElementById(button.dataset.copy);
    const text = source.tagName === "INPUT" ? source.value : source.textContent;
    try {
      await navigator.clipboard.writeText(text);
    } catch (error) {
      // Plain-HTTP pages have no clipboard API: select the text and use the old command.
      const range = document.createRange();
      range.selectNodeContents(source);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      if (source.tagName === "INPUT") source.select();
      document.execCommand("copy");
    }
    button.textContent = "Copied";
    window.setTimeout(() => { button.textContent = "Copy"; }, 1500);
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-copy]");
    if (button) copy(button);
  });

  // The devices page

  function devicesPage() {
    const lists = document.getElementById("device-lists");
    if (!lists) return;

    async function refresh() {
      const focused = document.activeElement;
      const editing = focused && lists.contains(focused) && focused.matches("input, select, textarea");
      if (!editing) {
        const open = [...lists.querySelectorAll("details[open]")].map((item) => item.dataset.editId);
        try {
          const response = await fetch("/devices/lists", { credentials: "same-origin", headers: { Accept: "text/html" } });
          if (response.ok && !response.redirected) {
            lists.innerHTML = await response.text();
            for (const id of open) {
              const item = lists.querySelector(`details[data-edit-id="${id}"]`);
              if (item) item.open = true;
            }
          }
        } catch (error) { /* the next refresh tries again */ }
      }
      showLocalTimes(lists);
    }

    const form = document.getElementById("bridge-form");
    const problem = document.getElementById("bridge-error");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector('button[type="submit"]');
      button.disabled = true;
      problem.hidden = true;
      try {
        const created = await TinyApp.request(form.action, { method: "POST", body: new FormData(form) });
        document.getElementById("created-name").textContent = created.name;
        document.getElementById("created-token").value = created.token;
        document.getElementById("created-command").textContent = created.command;
        document.getElementById("created-virtual-command").textContent = created.virtual_command;
        const card = document.getElementById("bridge-created");
        card.hidden = false;
        card.scrollIntoView({ behavior: "smooth", block: "start" });
        form.reset();
        refresh();
      } catch (error) {
        problem.textContent = error.message;
        problem.hidden = false;
      } finally {
        button.disabled = false;
      }
    });

    window.setInterval(refresh, REFRESH_MS);
  }

  // A device's page

  function followInstall(data) {
    if (!data.install_active) return;
    const log = document.getElementById("install-log");
    const source = TinyLive.followJob({ reloadWhenDone: true });
    if (!source || !log) return;
    log.textContent = ""; // the stream replays every line from the start
    source.addEventListener("log", (event) => {
      const line = JSON.parse(event.data).line;
      log.textContent += line + "\n";
      log.scrollTop = log.scrollHeight;
      document.getElementById("progress-message").textContent = line;
    });
  }

  function installForm() {
    const form = document.getElementById("install-form");
    if (!form) return;
    const choice = document.getElementById("install-choice");
    const verdict = document.getElementById("install-fit");
    const problem = document.getElementById("install-error");
    const button = document.getElementById("install-button");
    const refused = document.getElementById("install-refused");
    const forceChoice = document.getElementById("install-force-choice");
    const force = document.getElementById("install-force");

    // The Install button says why it is off: the model cannot fit, or it was compiled for
    // another board (which an expert may force).
    const allowInstall = () => {
      const option = choice.selectedOptions[0];
      const allowed = option && option.dataset.allowed === "yes";
      const forceable = option && option.dataset.forceable === "yes";
      refused.hidden = !option || allowed;
      refused.textContent = option && !allowed ? option.dataset.reason : "";
      forceChoice.hidden = !forceable;
      if (!forceable) force.checked = false;
      const blocked = !option || (!allowed && !(forceable && force.checked));
      button.disabled = button.hasAttribute("data-busy") || blocked;
      button.title = blocked && option ? option.dataset.reason : "";
    };

    const showFit = () => {
      const option = choice.selectedOptions[0];
      verdict.replaceChildren();
      allowInstall();
      if (!option) return;
      const fits = option.dataset.fits === "yes";
      const mark = element("span", `verdict ${fits ? "ok" : "bad"}`, fits ? "✓ Fits this device" : "✗ Does not fit this device");
      const numbers = element("span", "muted",
        `RAM ${option.dataset.ram} of ${option.dataset.ramLimit} · flash ${option.dataset.flash} of ${option.dataset.flashLimit}`);
      verdict.append(mark, numbers);
    };

    const showProblem = (message, body) => {
      problem.replaceChildren(element("p", "strong", message));
      const rows = [];
      for (const [key, name] of [["ram", "RAM"], ["flash", "Flash"]]) {
        const part = body && body[key];
        if (!part || part.estimate_bytes === undefined) continue;
        rows.push(element("li", "", `${name}: needs ${filesize(part.estimate_bytes)} of ${filesize(part.limit_bytes)}${part.fits ? " — fits" : " — too much"}`));
      }
      if (rows.length) {
        const list = element("ul");
        list.append(...rows);
        problem.append(list);
      }
      problem.hidden = false;
    };

    choice.addEventListener("change", () => { problem.hidden = true; showFit(); });
    force.addEventListener("change", allowInstall);
    showFit();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      button.disabled = true;
      problem.hidden = true;
      try {
        const accepted = await TinyApp.request(form.action, { method: "POST", body: new FormData(form) });
        window.location.assign(accepted.redirect);
      } catch (error) {
        showProblem(error.message, error.body);
        allowInstall();
      }
    });
  }

  function followStatus(data) {
    const badge = document.getElementById("device-status");
    const lastSeen = document.getElementById("device-last-seen");
    const tick = async () => {
      try {
        const device = await TinyApp.request(`/devices/${data.device_id}`);
        badge.textContent = device.status;
        badge.className = `status status-${device.status}`;
        if (device.last_seen) lastSeen.textContent = formatTime(new Date(device.last_seen));
      } catch (error) { /* the next tick tries again */ }
    };
    window.setInterval(tick, REFRESH_MS);
  }

  function observations(data) {
    const history = data.observations.slice(-data.history_shown);
    let total = data.total;
    let drawPending = false;

    const latestBox = document.getElementById("latest");
    const empty = document.getElementById("latest-empty");
    const bars = document.getElementById("score-bars");
    const rows = document.getElementById("history-rows");
    const count = document.getElementById("history-count");
    const historyEmpty = document.getElementById("history-empty");
    const dot = document.getElementById("live-dot");
    const chartConfig = { displayModeBar: false, responsive: true };
    const chartLayout = {
      margin: { l: 44, r: 12, t: 8, b: 36 },
      height: 280,
      xaxis: { type: "date", tickformat: "%H:%M:%S" },
      yaxis: { title: { text: "score" }, range: [0, 1.02] },
      legend: { orientation: "h", y: 1.14 },
      font: { family: "Inter, system-ui, sans-serif", size: 12 },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
    };
    const classesOf = (items) => [...new Set(items.flatMap((item) => Object.keys(item.scores)))].sort();

    const colorOf = () => classColors(history.flatMap((item) => Object.keys(item.scores)));

    function drawLatest(latest, color) {
      latestBox.hidden = false;
      empty.hidden = true;
      document.getElementById("latest-label").textContent = latest.label;
      const score = latest.scores[latest.label];
      document.getElementById("latest-score").textContent = score === undefined ? "" : `${percent(score)} sure`;
      document.getElementById("latest-latency").textContent = milliseconds(latest.latency_ms);
      document.getElementById("latest-time").textContent = formatTime(new Date(latest.ts));
      document.getElementById("latest-source").textContent = latest.source || "—";

      bars.replaceChildren();
      const top = Math.max(...Object.values(latest.scores));
      for (const name of Object.keys(latest.scores).sort()) {
        const value = latest.scores[name];
        const row = element("div", value === top ? "score-row top" : "score-row");
        row.dataset.class = name;
        const bar = element("div", "bar big");
        const fill = element("span");
        fill.style.background = color(name);
        fill.style.width = `${(Math.max(0, Math.min(1, value)) * 100).toFixed(1)}%`;
        bar.append(fill);
        row.append(element("span", "score-name", name), bar, element("span", "num", percent(value)));
        bars.append(row);
      }
    }

    function drawChart(color) {
      const points = history.slice(-CHART_POINTS);
      const x = points.map((item) => new Date(item.ts));
      const traces = classesOf(points).map((name) => ({
        x,
        y: points.map((item) => (item.scores[name] === undefined ? null : item.scores[name])),
        name,
        mode: "lines",
        line: { width: 2, color: color(name) },
      }));
      Plotly.react("observation-chart", traces, chartLayout, chartConfig);
    }

    function drawHistory() {
      const fragment = document.createDocumentFragment();
      for (const item of [...history].reverse()) {
        const row = element("tr");
        row.dataset.observationId = item.id;
        const score = item.scores[item.label];
        const model = element("td", "hide-phone model");
        if (item.compiled_id !== null) {
          const link = element("a", "", data.compiled_names[item.compiled_id] || `#${item.compiled_id}`);
          link.href = `/compiled/${item.compiled_id}`;
          model.append(link);
        } else {
          model.append(element("span", "muted", "—"));
        }
        const source = element("td", "hide-phone source muted", item.source || "—");
        source.title = item.source || "";
        row.append(
          element("td", "muted nowrap", formatTime(new Date(item.ts))),
          element("td", "strong", item.label),
          element("td", "num", score === undefined ? "—" : percent(score)),
          element("td", "num", milliseconds(item.latency_ms)),
          source,
          model,
        );
        fragment.append(row);
      }
      rows.replaceChildren(fragment);
      historyEmpty.hidden = history.length > 0;
      count.textContent = history.length
        ? `${total} recorded · the latest ${history.length} shown`
        : "";
    }

    function draw() {
      drawPending = false;
      const color = colorOf();
      if (history.length) drawLatest(history[history.length - 1], color);
      drawChart(color);
      drawHistory();
    }

    function scheduleDraw() {
      if (drawPending) return;
      drawPending = true;
      window.setTimeout(draw, DRAW_EVERY_MS);
    }

    draw();
    const after = history.length ? history[history.length - 1].id : 0;
    const stream = new EventSource(`/devices/${data.device_id}/observe?after=${after}`);
    stream.addEventListener("open", () => dot.classList.add("on"));
    stream.addEventListener("error", () => dot.classList.remove("on"));
    stream.addEventListener("observation", (event) => {
      history.push(JSON.parse(event.data));
      if (history.length > data.history_shown) history.shift();
      total += 1;
      scheduleDraw();
    });
  }

  function devicePage() {
    const holder = document.getElementById("device-data");
    if (!holder) return;
    const data = JSON.parse(holder.textContent);
    followInstall(data);
    installForm();
    followStatus(data);
    observations(data);
  }

  devicesPage();
  devicePage();
})();
