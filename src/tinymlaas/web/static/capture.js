"use strict";
// The device page's Capture panel: the label picker (the chosen dataset's folders, one click
// each) and the live preview of a running capture (its frames appear as they are stored).
(function () {
  const data = JSON.parse(document.getElementById("capture-data")?.textContent || "null");
  if (!data) return;
  const select = document.getElementById("capture-dataset");
  const folder = document.getElementById("capture-folder");
  const options = document.getElementById("capture-folders");
  const picker = document.getElementById("capture-labels");

  function showLabels() {
    if (!select) return;
    const dataset = data.datasets.find((item) => String(item.id) === select.value);
    const folders = dataset ? dataset.folders : [];
    options.replaceChildren(...folders.map((path) => Object.assign(document.createElement("option"), { value: path })));
    picker.replaceChildren(...folders.map((path) => {
      const button = Object.assign(document.createElement("button"), { type: "button", className: "button small", textContent: path });
      button.addEventListener("click", () => { folder.value = path; folder.focus(); });
      return button;
    }));
  }
  if (select) {
    select.addEventListener("change", showLabels);
    showLabels();
  }

  const capture = data.capture;
  if (!capture || !data.active) return;
  // The server's job statuses, rendered into every page by base.html.
  const { active: ACTIVE } = JSON.parse(document.getElementById("job-statuses").textContent);
  const preview = document.getElementById("capture-preview");
  const count = document.getElementById("capture-count");
  const state = document.getElementById("capture-state");
  const shown = new Set(capture.image_ids);
  async function poll() {
    const response = await fetch(`/device-captures/${capture.id}`, { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const current = await response.json();
    for (const id of current.image_ids) {
      if (shown.has(id)) continue;
      shown.add(id);
      const item = document.createElement("li");
      item.innerHTML = `<a href="/datasets/${current.dataset_id}/images/${id}"><img src="/datasets/${current.dataset_id}/images/${id}/thumbnail" alt="frame" width="96" height="96"></a>`;
      preview.append(item);
    }
    count.textContent = current.image_ids.length;
    state.textContent = current.status;
    state.className = `status status-${current.status}`;
    if (ACTIVE.includes(current.status)) setTimeout(poll, 1000);
  }
  setTimeout(poll, 1000);
})();
