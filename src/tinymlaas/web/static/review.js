// The review page: file doubtful frames with the keyboard or the buttons, without reloading.
// ←/→/↑/↓ move, space selects, a accepts, 1–9 relabel, d or Delete discards: the selected
// frames, or the one in focus when none is selected.
"use strict";

(() => {
  const form = document.getElementById("review-form");
  if (!form) return;
  const grid = document.getElementById("review-grid");
  const errorBox = document.getElementById("review-error");
  const labels = JSON.parse(document.getElementById("review-data").textContent).labels;
  const base = `/datasets/${form.dataset.dataset}/review/`;
  const tiles = () => [...grid.querySelectorAll(".review-item")];
  const selected = () => tiles().filter((tile) => tile.querySelector("input").checked);
  let busy = false;
  let lastFocused = null;  // the frame buttons act on when none is selected

  function updateSelection() {
    const chosen = selected();
    for (const tile of tiles()) tile.classList.toggle("selected", tile.querySelector("input").checked);
    document.getElementById("review-selected").textContent = `${chosen.length} selected`;
    const all = document.getElementById("review-select-all");
    all.checked = chosen.length > 0 && chosen.length === tiles().length;
  }

  function focusAt(index) {
    const list = tiles();
    if (!list.length) return;
    list[Math.max(0, Math.min(index, list.length - 1))].focus();
  }

  function columns() {
    const list = tiles();
    if (!list.length) return 1;
    const top = list[0].offsetTop;
    const count = list.findIndex((tile) => tile.offsetTop !== top);
    return count === -1 ? list.length : count;
  }

  // The frames an action applies to: the selected ones, else the one in focus.
  function targets() {
    const chosen = selected();
    if (chosen.length) return chosen;
    return lastFocused && lastFocused.isConnected ? [lastFocused] : [];
  }

  async function act(action, label) {
    const chosen = targets();
    if (!chosen.length || busy) return;
    const index = tiles().indexOf(chosen[0]);
    const body = new FormData();
    for (const tile of chosen) body.append("item_id", tile.dataset.id);
    if (label !== undefined) body.append("label", label);
    busy = true;
    errorBox.hidden = true;
    try {
      const done = await TinyApp.request(base + action, { method: "POST", body });
      for (const tile of chosen) tile.remove();
      document.getElementById("review-total").textContent = done.queued;
      updateSelection();
      if (!tiles().length) {
        document.querySelector(".review-card").hidden = true;
        document.getElementById("review-empty").hidden = false;
        if (done.queued > 0) window.location.reload();  // the next frames wait on the server
      }
      focusAt(index);
    } catch (error) {
      errorBox.textContent = error.message.charAt(0).toUpperCase() + error.message.slice(1) + ".";
      errorBox.hidden = false;
    } finally {
      busy = false;
    }
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest("select, input:not([type=checkbox]), textarea")) return;
    const list = tiles();
    const active = document.activeElement && document.activeElement.closest(".review-item");
    const current = list.indexOf(active || lastFocused);
    const moves = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -columns(), ArrowDown: columns() };
    if (event.key in moves) {
      focusAt(current === -1 ? 0 : current + moves[event.key]);
    } else if (event.key === " " && active) {
      const box = list[current].querySelector("input");
      box.checked = !box.checked;
      updateSelection();
    } else if (event.key === "a") {
      act("accept");
    } else if (event.key === "d" || event.key === "Delete") {
      act("discard");
    } else if (/^[1-9]$/.test(event.key) && labels[Number(event.key) - 1] !== undefined) {
      act("relabel", labels[Number(event.key) - 1]);
    } else {
      return;
    }
    event.preventDefault();
  });

  grid.addEventListener("focusin", (event) => {
    const tile = event.target.closest(".review-item");
    if (!tile) return;
    lastFocused = tile;
    for (const other of tiles()) other.classList.toggle("focused", other === tile);
  });
  grid.addEventListener("click", (event) => {
    const tile = event.target.closest(".review-item");
    if (tile && !event.target.closest("input, label")) tile.focus();
  });
  form.addEventListener("change", (event) => {
    if (event.target.id === "review-select-all") {
      for (const tile of tiles()) tile.querySelector("input").checked = event.target.checked;
    }
    updateSelection();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const button = event.submitter || document.getElementById("review-accept");
    if (button.dataset.label) act("relabel", button.dataset.label);
    else if (button.id === "review-relabel") {
      const label = document.getElementById("review-new-label").value.trim();
      if (label) act("relabel", label);
    } else act(button.id === "review-discard" ? "discard" : "accept");
  });
  updateSelection();
  focusAt(0);
})();
