// Shared behaviour of every page: confirmations, uploads with progress, image selection.
"use strict";

const TinyApp = (() => {
  const csrfToken = () => document.querySelector('meta[name="csrf-token"]').content;

  // fetch() for the pages' own endpoints: same-origin cookie, CSRF header, JSON answers.
  async function request(url, options = {}) {
    const headers = Object.assign({ Accept: "application/json" }, options.headers || {});
    if (options.method && options.method !== "GET") headers["X-CSRF-Token"] = csrfToken();
    const response = await fetch(url, Object.assign({ credentials: "same-origin" }, options, { headers }));
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw Object.assign(new Error(body.detail || response.statusText), { body });
    return body;
  }

  // Sizes in binary units, as the server's `filesize` filter and the CLI write them.
  function filesize(size) {
    if (size < 1024) return `${size} B`;
    let value = size / 1024;
    for (const unit of ["KiB", "MiB"]) {
      if (value < 1024) return `${value.toFixed(1)} ${unit}`;
      value /= 1024;
    }
    return `${value.toFixed(1)} GiB`;
  }

  // Every moment a page shows, in the reader's local time and one format: 2026-05-04 14:03:09.
  function formatTime(moment) {
    const two = (number) => String(number).padStart(2, "0");
    return `${moment.getFullYear()}-${two(moment.getMonth() + 1)}-${two(moment.getDate())} `
      + `${two(moment.getHours())}:${two(moment.getMinutes())}:${two(moment.getSeconds())}`;
  }

  // <time data-local> elements (the server's `when` filter) shown in local time.
  function showLocalTimes(root = document) {
    for (const element of root.querySelectorAll("time[data-local]")) {
      const moment = new Date(element.dateTime);
      if (!Number.isNaN(moment.getTime())) element.textContent = formatTime(moment);
    }
  }

  function showErrors(box, body) {
    box.replaceChildren();
    const title = document.createElement("p");
    title.className = "strong";
    const listed = Array.isArray(body.errors) && body.errors.length;
    // With a list below, the headline is the detail's first clause, not the list again.
    const detail = body.detail || "The upload was refused.";
    const headline = listed && detail.includes(": ") ? detail.slice(0, detail.indexOf(": ")) : detail;
    title.textContent = headline.charAt(0).toUpperCase() + headline.slice(1) + (listed ? ":" : "");
    box.append(title);
    if (listed) {
      const list = document.createElement("ul");
      for (const error of body.errors) {
        const item = document.createElement("li");
        const entry = document.createElement("code");
        entry.textContent = error.entry;
        item.append(entry, document.createTextNode(": " + error.problem));
        list.append(item);
      }
      box.append(list);
    }
    box.hidden = false;
  }

  // Forms marked data-upload are sent with XMLHttpRequest to show upload progress.
  function upload(form) {
    const progress = form.querySelector(".upload-progress");
    const bar = progress.querySelector(".bar span");
    const text = progress.querySelector(".upload-text");
    const errors = form.querySelector(".upload-errors");
    const button = form.querySelector('button[type="submit"]');
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRF-Token", csrfToken());
    xhr.upload.addEventListener("progress", (event) => {
      if (!event.lengthComputable) return;
      const share = event.loaded / event.total;
      bar.style.width = (share * 100).toFixed(1) + "%";
      text.textContent = share < 1 ? `Uploading… ${Math.round(share * 100)}%` : "Checking every image…";
    });
    xhr.addEventListener("load", () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (error) { body = { detail: xhr.statusText }; }
      if (xhr.status >= 200 && xhr.status < 300) {
        text.textContent = "Done.";
        window.location.assign(body.redirect);
        return;
      }
      progress.hidden = true;
      button.disabled = false;
      showErrors(errors, body);
    });
    xhr.addEventListener("error", () => {
      progress.hidden = true;
      button.disabled = false;
      showErrors(errors, { detail: "The connection failed during the upload; try again." });
    });
    errors.hidden = true;
    progress.hidden = false;
    bar.style.width = "0%";
    text.textContent = "Uploading…";
    button.disabled = true;
    xhr.send(new FormData(form));
  }

  function wireSelection() {
    const form = document.getElementById("selection-form");
    if (!form) return;
    const boxes = () => [...form.querySelectorAll('input[name="image_id"]')];
    const all = document.getElementById("select-all");
    const update = () => {
      const chosen = boxes().filter((box) => box.checked).length;
      document.getElementById("selected-count").textContent = `${chosen} selected`;
      document.getElementById("move-button").disabled = chosen === 0;
      document.getElementById("delete-button").disabled = chosen === 0;
      all.checked = chosen > 0 && chosen === boxes().length;
    };
    form.addEventListener("change", (event) => {
      if (event.target === all) boxes().forEach((box) => { box.checked = all.checked; });
      update();
    });
    update();
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    const confirmText = (event.submitter && event.submitter.dataset.confirm) || form.dataset.confirm;
    if (confirmText && !window.confirm(confirmText)) {
      event.preventDefault();
      return;
    }
    if (form.hasAttribute("data-upload")) {
      event.preventDefault();
      upload(form);
    }
  });
  document.addEventListener("DOMContentLoaded", () => {
    wireSelection();
    showLocalTimes();
  });

  return { request, csrfToken, filesize, formatTime, showLocalTimes };
})();
