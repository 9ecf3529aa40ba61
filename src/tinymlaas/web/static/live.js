// Live job progress from the server's event stream (Server-Sent Events), and the jobs list.
"use strict";

const TinyLive = (() => {
  // The server's job statuses, rendered into every page by base.html.
  const { statuses: STATUS, finished: FINISHED } = JSON.parse(
    document.getElementById("job-statuses").textContent);

  // Follows the job shown by _job_progress.html; `onMetric` receives each epoch's metrics.
  // The page's badges of what the job makes ([data-job-badge]) follow the same events.
  function followJob({ onMetric = null, reloadWhenDone = true } = {}) {
    const card = document.getElementById("job-progress");
    if (!card) return null;
    const bar = document.getElementById("progress-bar");
    const percent = document.getElementById("progress-percent");
    const message = document.getElementById("progress-message");
    const status = document.getElementById("progress-status");
    const badges = [status, ...document.querySelectorAll("[data-job-badge]")];
    const setStatus = (value) => {
      for (const badge of badges) {
        badge.textContent = value;
        badge.className = `status status-${value}`;
      }
    };
    const setProgress = (fraction) => {
      bar.style.width = (fraction * 100).toFixed(1) + "%";
      percent.textContent = Math.round(fraction * 100) + "%";
    };
    const source = new EventSource(`/jobs/${card.dataset.jobId}/events`);
    source.addEventListener("progress", (event) => {
      const data = JSON.parse(event.data);
      setProgress(data.progress);
      message.textContent = data.message;
      if (status.textContent === STATUS.queued) setStatus(STATUS.running);
    });
    source.addEventListener("metric", (event) => { if (onMetric) onMetric(JSON.parse(event.data)); });
    source.addEventListener("state", (event) => {
      const data = JSON.parse(event.data);
      setStatus(data.cancelling ? "cancelling" : data.status);
      if (data.message) message.textContent = data.message;
      if (data.progress !== undefined) setProgress(data.progress);
      if (FINISHED.includes(data.status)) {
        source.close(); // the stream is complete; without this EventSource would reconnect
        card.dataset.status = data.status;
        if (reloadWhenDone) window.setTimeout(() => window.location.reload(), 1500);
      }
    });
    const cancel = card.querySelector(".cancel-form");
    cancel.addEventListener("submit", async (event) => {
      event.preventDefault();
      document.getElementById("cancel-button").disabled = true;
      try {
        const job = await TinyApp.request(cancel.action, { method: "POST" });
        message.textContent = job.message;
      } catch (error) {
        message.textContent = error.message;
      }
    });
    return source;
  }

  // Refreshes the status and progress of unfinished jobs in the jobs table every 2 s.
  function refreshJobs() {
    const table = document.getElementById("jobs-table");
    if (!table) return;
    const tick = async () => {
      const unfinished = [...table.querySelectorAll("tr[data-job-id]")].filter(
        (row) => !FINISHED.includes(row.querySelector('[data-field="status"]').textContent));
      if (!unfinished.length) return;
      try {
        const page = await TinyApp.request("/jobs" + window.location.search);
        for (const job of page.items) {
          const row = table.querySelector(`tr[data-job-id="${job.id}"]`);
          if (!row) continue;
          const status = row.querySelector('[data-field="status"]');
          status.textContent = job.status;
          status.className = `status status-${job.status}`;
          row.querySelector('[data-field="bar"]').style.width = (job.progress * 100).toFixed(1) + "%";
          row.querySelector('[data-field="message"]').textContent = job.error || job.message;
        }
      } catch (error) { /* the next tick tries again */ }
      window.setTimeout(tick, 2000);
    };
    window.setTimeout(tick, 2000);
  }

  return { followJob, refreshJobs };
})();
