// Painterly studio: the page talks only to this server's /api (no other origin, no build step).
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  token: sessionStorage.getItem("painterly-token") || "",
  photo: null,          // File
  style: null,          // {name} or {file}
  methods: [],
  models: [],
  job: null,            // job being watched
  previewVersion: null,
  pollTimer: null,
  objectUrls: new Map(), // slot -> object URL, revoked when replaced
};

// ---- API ------------------------------------------------------------------------------------------
async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  if (state.token) headers.set("Authorization", "Bearer " + state.token);
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) {
    $("token-form").hidden = false;
    throw new Error("this server needs an access token: enter it above");
  }
  if (!response.ok) {
    let message = response.status + " " + response.statusText;
    try { message = (await response.json()).error.message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

const getJSON = async (path) => (await api(path)).json();

// Images come through fetch (so the token header goes along) and are shown as blob URLs.
async function showImage(img, path, slot) {
  const blob = await (await api(path)).blob();
  const url = URL.createObjectURL(blob);
  const old = state.objectUrls.get(slot);
  if (old) URL.revokeObjectURL(old);
  state.objectUrls.set(slot, url);
  await new Promise((resolve) => { img.onload = resolve; img.onerror = resolve; img.src = url; });
  img.hidden = false;
  return url;
}

// ---- photo ----------------------------------------------------------------------------------------
function setPhoto(file) {
  if (!file) return;
  if (file.type && !file.type.startsWith("image/")) { showFormError("that file is not an image"); return; }
  state.photo = file;
  const preview = $("photo-preview");
  const old = state.objectUrls.get("photo");
  if (old) URL.revokeObjectURL(old);
  const url = URL.createObjectURL(file);
  state.objectUrls.set("photo", url);
  preview.src = url;
  preview.hidden = false;
  $("drop-hint").textContent = file.name + " — drop another to replace it";
  showFormError("");
}

function setupDrop() {
  const drop = $("drop");
  const input = $("photo-input");
  drop.addEventListener("click", () => input.click());
  drop.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); input.click(); } });
  input.addEventListener("change", () => setPhoto(input.files[0]));
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.remove("over"); });
  }
  drop.addEventListener("drop", (event) => setPhoto(event.dataTransfer.files[0]));
}

// ---- paintings --------------------------------------------------------------------------------------
function selectTile(tile, style) {
  for (const other of document.querySelectorAll("#gallery .tile")) {
    other.classList.remove("selected");
    other.setAttribute("aria-selected", "false");
  }
  tile.classList.add("selected");
  tile.setAttribute("aria-selected", "true");
  state.style = style;
  showFormError("");
}

async function loadStyles() {
  const { styles } = await getJSON("/api/styles");
  const gallery = $("gallery");
  gallery.replaceChildren();
  for (const style of styles) {
    const tile = document.createElement("button");
    tile.type = "button";
    tile.className = "tile";
    tile.dataset.style = style.name;
    tile.setAttribute("role", "option");
    tile.title = `${style.title}, ${style.artist} (${style.year})`;
    const img = document.createElement("img");
    img.alt = style.title;
    tile.append(img);
    tile.addEventListener("click", () => selectTile(tile, { name: style.name }));
    gallery.append(tile);
    showImage(img, style.thumbnail_url, "style-" + style.name).catch(() => {});
  }
  const upload = document.createElement("button");
  upload.type = "button";
  upload.className = "tile";
  upload.id = "style-upload-tile";
  upload.innerHTML = '<span class="upload">Upload a painting…</span>';
  const input = $("style-input");
  upload.addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    const file = input.files[0];
    if (!file) return;
    const url = URL.createObjectURL(file);
    const old = state.objectUrls.get("style-upload");
    if (old) URL.revokeObjectURL(old);
    state.objectUrls.set("style-upload", url);
    upload.innerHTML = "";
    const img = document.createElement("img");
    img.src = url;
    img.alt = file.name;
    upload.append(img);
    selectTile(upload, { file });
  });
  gallery.append(upload);
}

// ---- methods ------------------------------------------------------------------------------------------
async function loadMethods() {
  const { methods, models } = await getJSON("/api/models");
  state.methods = methods;
  state.models = models;
  const box = $("methods");
  box.replaceChildren();
  if (!methods.length) {
    box.innerHTML = '<p class="none">No stylization method is installed on this server.</p>';
    $("run").disabled = true;
    return;
  }
  methods.forEach((method, index) => {
    const label = document.createElement("label");
    const radio = document.createElement("input");
    radio.type = "radio";
    radio.name = "method";
    radio.value = method.name;
    const usable = !method.needs_model || models.some((model) => model.method === method.name);
    radio.disabled = !usable;
    const text = document.createElement("span");
    text.textContent = method.label;
    const hint = document.createElement("small");
    hint.textContent = usable ? method.summary : "no trained model installed";
    label.append(radio, text, hint);
    radio.addEventListener("change", methodChanged);
    box.append(label);
  });
  const first = box.querySelector("input:not(:disabled)");
  if (first) first.checked = true;
  methodChanged();
}

function currentMethod() {
  const checked = document.querySelector('#methods input[name="method"]:checked');
  return checked ? state.methods.find((method) => method.name === checked.value) : null;
}

function methodChanged() {
  const method = currentMethod();
  const models = method ? state.models.filter((model) => model.method === method.name) : [];
  const select = $("model");
  select.replaceChildren(...models.map((model) => new Option(model.title || model.name, model.name)));
  $("model-row").hidden = !(method && method.needs_model);
  for (const row of document.querySelectorAll("[data-option]")) {
    row.hidden = !(method && method.options.includes(row.dataset.option));
  }
  $("run").disabled = !method;
}

// ---- jobs -------------------------------------------------------------------------------------------
function showFormError(message) { $("form-error").textContent = message; }

function setMessage(text, bad = false) {
  const message = $("job-message");
  message.textContent = text;
  message.classList.toggle("bad", bad);
}

async function submitJob() {
  const method = currentMethod();
  if (!state.photo) { showFormError("choose a photo first"); return; }
  if (!method) { showFormError("choose a method"); return; }
  if (method.needs_style && !state.style) { showFormError("choose a painting"); return; }
  const form = new FormData();
  form.append("content", state.photo, state.photo.name || "photo");
  if (state.style && state.style.name) form.append("style", state.style.name);
  if (state.style && state.style.file) form.append("style_file", state.style.file, state.style.file.name || "painting");
  form.append("method", method.name);
  if (method.needs_model) form.append("model", $("model").value);
  const values = {
    strength: $("strength").value,
    style_scale: $("style-scale").value,
    size: $("size").value,
    steps: $("steps").value,  // empty: the method's default
    preserve_color: $("preserve-color").checked ? "luminance" : "none",
  };
  for (const [name, value] of Object.entries(values)) {
    if (method.options.includes(name) && value !== "") form.append(name, value);
  }
  $("run").disabled = true;
  showFormError("");
  try {
    const job = await (await api("/api/jobs", { method: "POST", body: form })).json();
    watchJob(job);
  } catch (error) {
    showFormError(error.message);
    $("run").disabled = false;
  }
}

function watchJob(job) {
  clearTimeout(state.pollTimer);
  state.job = job;
  state.previewVersion = null;
  $("compare").hidden = true;
  $("download").hidden = true;
  $("preview").hidden = true;
  $("progress").hidden = false;
  $("cancel").disabled = false;
  setMessage("");
  updateJob(job);
}

async function updateJob(job) {
  if (!state.job || job.id !== state.job.id) return;
  state.job = job;
  const progress = job.progress;
  $("progress-bar").value = progress.fraction;
  let text;
  if (job.status === "queued") text = job.queue_position ? `waiting: ${job.queue_position} job(s) ahead` : "waiting to start";
  else if (job.status === "running") text = progress.total ? `${progress.stage || "painting"} — step ${progress.step} of ${progress.total}` : "painting…";
  else text = job.status;
  $("progress-text").textContent = text;
  if (job.preview_url && job.preview_url !== state.previewVersion && job.status === "running") {
    state.previewVersion = job.preview_url;
    showImage($("preview"), job.preview_url, "preview").catch(() => {});
  }
  if (job.status === "queued" || job.status === "running") {
    state.pollTimer = setTimeout(poll, 500);
    return;
  }
  $("progress").hidden = true;
  $("run").disabled = false;
  if (job.status === "succeeded") {
    await showResult(job);
  } else if (job.status === "failed") {
    setMessage("The job failed: " + (job.error || "unknown error"), true);
  } else {
    setMessage("The job was cancelled.");
  }
  loadHistory().catch(() => {});
}

async function poll() {
  if (!state.job) return;
  try {
    updateJob(await getJSON(`/api/jobs/${state.job.id}`));
  } catch (error) {
    setMessage("Lost the job: " + error.message, true);
    state.pollTimer = setTimeout(poll, 2000);
  }
}

async function cancelJob() {
  if (!state.job) return;
  $("cancel").disabled = true;
  try {
    updateJob(await (await api(`/api/jobs/${state.job.id}/cancel`, { method: "POST" })).json());
  } catch (error) {
    setMessage(error.message, true);
  }
}

async function showResult(job) {
  await Promise.all([
    showImage($("compare-before"), job.original_url, "before"),
    showImage($("compare-after"), job.result_url, "after").then((url) => {
      const link = $("download");
      link.href = url;
      link.download = `painterly-${job.id.slice(0, 8)}.png`;
      link.hidden = false;
    }),
  ]);
  const before = $("compare-before");
  const ratio = before.naturalWidth / Math.max(1, before.naturalHeight) || 1;
  $("compare").style.width = `min(100%, calc(70vh * ${ratio.toFixed(4)}))`;  // no letterbox: the slider spans the image
  $("compare").hidden = false;
  const style = job.style.name || (job.style.uploaded ? "your painting" : job.model || "");
  setMessage(`Done: ${job.method}${style ? ", " + style : ""}. Drag the slider to compare.`);
}

function setupCompare() {
  const slider = $("compare-slider");
  const update = () => { $("compare-after").style.clipPath = `inset(0 0 0 ${slider.value}%)`; };
  slider.addEventListener("input", update);
  update();
}

// ---- history ------------------------------------------------------------------------------------------
async function loadHistory() {
  const { jobs } = await getJSON("/api/jobs?limit=24");
  const list = $("history");
  list.replaceChildren();
  if (!jobs.length) {
    const empty = document.createElement("li");
    empty.textContent = "No paintings yet.";
    list.append(empty);
    return;
  }
  for (const job of jobs) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.job = job.id;
    const img = document.createElement("img");
    img.alt = "";
    const caption = document.createElement("span");
    caption.className = "status-" + job.status;
    const when = job.created_at ? new Date(job.created_at).toLocaleString() : "";
    caption.textContent = `${job.style.name || (job.style.uploaded ? "own painting" : job.model || job.method)} · ${job.status}`;
    button.title = when;
    button.append(img, caption);
    if (job.thumbnail_url) showImage(img, job.thumbnail_url, "history-" + job.id).catch(() => {});
    button.addEventListener("click", () => {
      if (job.status === "succeeded") { state.job = job; showResult(job); }
      else if (job.status === "queued" || job.status === "running") watchJob(job);
      else setMessage(`That job ${job.status}${job.error ? ": " + job.error : ""}.`, job.status === "failed");
    });
    item.append(button);
    if (["succeeded", "failed", "cancelled"].includes(job.status)) {
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "delete";
      remove.textContent = "×";
      remove.title = "Delete this result";
      remove.setAttribute("aria-label", "Delete this result");
      remove.addEventListener("click", async () => {
        try {
          await api(`/api/jobs/${job.id}`, { method: "DELETE" });
          await loadHistory();
        } catch (error) {
          setMessage(error.message, true);
        }
      });
      item.append(remove);
    }
    list.append(item);
  }
}

// ---- start -----------------------------------------------------------------------------------------------
function setupTabs() {
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => {
      for (const other of document.querySelectorAll(".tab")) {
        other.classList.toggle("active", other === tab);
        other.setAttribute("aria-selected", String(other === tab));
        $(other.dataset.tab).hidden = other !== tab;
      }
    });
  }
}

function setupSliders() {
  for (const [id, out] of [["strength", "strength-value"], ["style-scale", "style-scale-value"]]) {
    const input = $(id);
    const update = () => { $(out).textContent = Number(input.value).toFixed(2); };
    input.addEventListener("input", update);
    update();
  }
}

async function loadAll() {
  try {
    const health = await getJSON("/api/health");
    $("server-state").textContent = `${health.workers} worker(s), ${health.queued} queued`;
    $("size").querySelectorAll("option").forEach((option) => { option.disabled = Number(option.value) > health.limits.max_size; });
    await Promise.all([loadStyles(), loadMethods(), loadHistory()]);
  } catch (error) {
    $("server-state").textContent = error.message;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  setupTabs();
  setupDrop();
  setupSliders();
  setupCompare();
  $("run").addEventListener("click", submitJob);
  $("cancel").addEventListener("click", cancelJob);
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = $("token-input").value.trim();
    sessionStorage.setItem("painterly-token", state.token);
    $("token-form").hidden = true;
    loadAll();
  });
  loadAll();
});
