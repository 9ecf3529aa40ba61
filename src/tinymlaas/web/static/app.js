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

  function showErrors(box, body) {
    box.replaceChildren();
    const title = document.createElement("p");
    title.className = "strong";
    title.textContent = body.detail || "The upload was refused.";
    box.append(title);
    if (Array.isArray(body.errors) && body.errors.length) {
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
  document.addEventListener("DOMContentLoaded", wireSelection);

  return { request, csrfToken };
})();
