// The train form: alphas of the chosen architecture, and a live "will it fit?" estimate.
"use strict";

(() => {
  const form = document.getElementById("train-form");
  if (!form) return;
  const field = (id) => document.getElementById(id);
  const architecture = field("architecture");
  const alpha = field("alpha");
  const output = field("estimate");

  function fillAlphas() {
    const option = architecture.selectedOptions[0];
    const wanted = alpha.dataset.selected || option.dataset.defaultAlpha;
    alpha.replaceChildren(...option.dataset.alphas.split(",").map((value) => {
      const choice = new Option(value, value);
      choice.selected = Number(value) === Number(wanted);
      return choice;
    }));
    alpha.dataset.selected = "";
    field("arch-description").textContent =
      `${option.dataset.description} Inputs ${option.dataset.min}–${option.dataset.max} px.`;
  }

  const kb = TinyApp.filesize;

  // The name proposed as the CLI does (dataset-architecture) until the user types their own.
  const name = form.elements.namedItem("name");
  let proposed = name.value;
  function proposeName() {
    if (name.value !== proposed) return; // the user's own name stays
    const dataset = field("dataset").selectedOptions[0];
    if (!dataset) return;
    proposed = `${dataset.dataset.name}-${architecture.value}`;
    name.value = proposed;
  }

  function meter(label, used, limit) {
    const share = used / limit;
    const row = document.createElement("div");
    row.className = "meter";
    row.innerHTML = `<div class="meter-head"><b></b><span></span></div>
      <div class="bar ${share > 1 ? "over" : ""}"><span></span></div>`;
    row.querySelector("b").textContent = label;
    row.querySelector(".meter-head span").textContent = `${kb(used)} of ${kb(limit)} (${(share * 100).toFixed(0)}%)`;
    row.querySelector(".bar span").style.width = `${Math.min(100, share * 100).toFixed(1)}%`;
    return row;
  }

  // The ImageNet choice says whether its file is cached, or why it cannot be used here.
  function showImagenet(status) {
    const option = field("weights-imagenet");
    if (!option || !status) return;
    const state = status.available
      ? (status.cached ? "cached" : "downloaded on first use")
      : "not available";
    option.textContent = `ImageNet (Keras, ${state})`;
    option.disabled = !status.available;
    if (option.disabled && option.selected) field("weights").value = "none";
    field("weights-help").textContent = status.problem || (status.filename
      ? `Starts from ${status.filename} (trained at ${status.size} px), frozen first, then fine-tuned at a tenth of the learning rate.`
      : field("weights-help").textContent);
  }

  // An uploaded base serves only the architecture and α it was vetted as.
  function fitBases() {
    const select = field("weights");
    if (!select) return;
    for (const option of select.options) {
      if (!option.dataset.architecture) continue;
      option.disabled = option.dataset.architecture !== architecture.value
        || Number(option.dataset.alpha) !== Number(alpha.value);
      if (option.disabled && option.selected) select.value = "none";
    }
  }

  let pending = 0;
  async function estimate() {
    const ticket = ++pending;
    const query = new URLSearchParams({
      architecture: architecture.value,
      alpha: alpha.value,
      input_width: field("input_width").value,
      input_height: field("input_height").value,
      color_mode: field("color_mode").value,
      dataset_id: field("dataset").value,
      board: field("board").value,
    });
    try {
      const result = await TinyApp.request(`/models/estimate?${query}`);
      if (ticket !== pending) return;
      const verdict = document.createElement("p");
      verdict.className = `verdict-big ${result.fits ? "ok" : "bad"}`;
      verdict.textContent = result.fits
        ? `Expected to fit on ${result.board_name}`
        : `Not expected to fit on ${result.board_name}`;
      const facts = document.createElement("p");
      facts.className = "muted small";
      facts.textContent = `${result.parameters.toLocaleString()} parameters · ${result.classes} classes · int8 model ${kb(result.flash_bytes)} · tensor arena ${kb(result.arena_bytes)}`;
      output.replaceChildren(verdict,
        meter("RAM", result.ram_estimate_bytes, result.ram_limit_bytes),
        meter("Flash", result.flash_estimate_bytes, result.flash_limit_bytes), facts);
      showImagenet(result.imagenet);
      fitBases();
    } catch (error) {
      if (ticket !== pending) return;
      const problem = document.createElement("p");
      problem.className = "flash flash-error";
      problem.textContent = error.message;
      output.replaceChildren(problem);
    }
  }

  architecture.addEventListener("change", fillAlphas);
  if (!name.readOnly && !form.elements.namedItem("base_model_id")) {
    form.addEventListener("change", proposeName);
    proposeName();
  }
  form.addEventListener("change", estimate);
  form.addEventListener("input", (event) => { if (event.target.type === "number") estimate(); });
  fillAlphas();
  estimate();
})();
