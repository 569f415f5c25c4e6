// Painterly studio: the page talks only to this server's /api (no other origin, no build step).
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  token: sessionStorage.getItem("painterly-token") || "",
  photo: null,          // File
  style: null,          // {name} or {file}
  methods: [],
  models: [],
  loaded: Promise.resolve(),  // the server's styles, methods and history being loaded (loadAll)
  job: null,            // job being watched
  previewVersion: null,
  pollTimer: null,
  styles: [],
  limits: {},
  video: null,          // File: the clip to stylize
  videoJob: null,       // video job being watched
  videoPollTimer: null,
  objectUrls: new Map(), // slot -> object URL, revoked when replaced
};

// ---- API ------------------------------------------------------------------------------------------
async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  if (state.token) headers.set("Authorization", "Bearer " + state.token);
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) {
    const wrong = Boolean(state.token);
    if (wrong) {  // forget it, so the next visit asks again
      state.token = "";
      sessionStorage.removeItem("painterly-token");
    }
    const message = wrong ? "That token was not accepted: check it (letters, digits and case) and enter it again."
                          : "This server needs an access token: enter the one you were given.";
    $("token-error").textContent = message;
    $("token-form").hidden = false;
    $("token-input").focus();
    throw new Error(wrong ? "wrong access token" : "access token needed");
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
  state.styles = styles;
  $("video-style").replaceChildren(...styles.map((style) => new Option(`${style.title} (${style.artist})`, style.name)));
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
// What each method does, in the words of someone choosing one (the registry's summaries speak to the CLI).
const METHOD_WORDS = {
  optimize: "The best result, with any painting or your own; about a minute, and you watch it paint.",
  anystyle: "Any painting or your own, in about a second.",
  adain: "Any painting or your own, in a few seconds.",
  fast: "A painting's style learned in advance: a second or less.",
  feedforward: "A painting's style learned in advance: a second or less.",
  gan: "A look learned from many paintings: a second or less.",
};

// Registry summaries, less what only the command line needs (its --options).
const plainWords = (summary) => (summary || "")
  .replace(/\s*\([^)]*--[^)]*\)/g, "").replace(/[;,]?\s*[^;,]*--[\w-]+[^;,]*/g, "").trim();

const methodWords = (method) => METHOD_WORDS[method.name] || plainWords(method.summary);
async function loadMethods() {
  const { methods, models } = await getJSON("/api/models");
  state.methods = methods;
  state.models = models;
  const box = $("methods");
  box.replaceChildren();
  if (!methods.length) {
    box.innerHTML = '<p class="none">No stylization method is installed on this server.</p>';
    $("run").disabled = true;
    loadVideoMethods();
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
    hint.textContent = usable ? methodWords(method) : "no trained model installed";
    label.append(radio, text, hint);
    radio.addEventListener("change", methodChanged);
    box.append(label);
  });
  const first = box.querySelector("input:not(:disabled)");
  if (first) first.checked = true;
  methodChanged();
  loadVideoMethods();
}

function currentMethod() {
  const checked = document.querySelector('#methods input[name="method"]:checked');
  return checked ? state.methods.find((method) => method.name === checked.value) : null;
}

// A method that paints with a trained model ignores the painting: the paintings give way to its models,
// every one of them, each shown by its painting where a built-in painting has its name.
function showModelGallery(models) {
  const gallery = $("model-gallery");
  gallery.replaceChildren();
  for (const model of models) {
    const tile = document.createElement("button");
    tile.type = "button";
    tile.className = "tile";
    tile.dataset.model = model.name;
    tile.setAttribute("role", "option");
    tile.title = model.title || model.name;
    const painting = state.styles.find((style) => style.name === model.name);
    if (painting) {
      const img = document.createElement("img");
      img.alt = model.title || model.name;
      tile.append(img);
      showImage(img, painting.thumbnail_url, "model-" + model.name).catch(() => {});
    } else {
      const name = document.createElement("span");
      name.className = "upload";
      name.textContent = model.title || model.name;
      tile.append(name);
    }
    tile.addEventListener("click", () => pickModel(model.name));
    gallery.append(tile);
  }
}

function pickModel(name) {
  $("model").value = name;
  const painting = document.querySelector(`#gallery .tile[data-style="${CSS.escape(name)}"]`);
  if (painting) selectTile(painting, { name });  // back on a painting method, the same painting is picked
  for (const tile of document.querySelectorAll("#model-gallery .tile")) {
    const chosen = tile.dataset.model === name;
    tile.classList.toggle("selected", chosen);
    tile.setAttribute("aria-selected", String(chosen));
  }
}

function methodChanged() {
  const method = currentMethod();
  const models = method ? state.models.filter((model) => model.method === method.name) : [];
  const select = $("model");
  select.replaceChildren(...models.map((model) => new Option(model.title || model.name, model.name)));
  const usesModel = Boolean(method && method.needs_model);
  $("model-row").hidden = !usesModel;
  $("gallery").hidden = usesModel;
  $("model-gallery").hidden = !usesModel;
  $("gallery-heading").textContent = usesModel ? "2. Trained style" : "2. Painting";
  $("gallery-note").hidden = !usesModel;
  if (usesModel) {
    showModelGallery(models);
    // the painting picked, when a model of that name ships; else the first model
    const picked = state.style && state.style.name && models.find((model) => model.name === state.style.name);
    if (models.length) pickModel(picked ? picked.name : models[0].name);
  }
  for (const row of document.querySelectorAll("[data-option]")) {
    row.hidden = !(method && method.options.includes(row.dataset.option));
  }
  fitSliders(method);
  $("run").disabled = !method;
}

// Each slider spans the chosen method's range (from its spec, in GET /api/methods), within the form's own.
const SLIDERS = {strength: ["strength", 0, 2], style_scale: ["style-scale", 0.25, 2]};

function fitSliders(method) {
  for (const [option, [id, low, high]] of Object.entries(SLIDERS)) {
    const input = $(id);
    const [min, max] = (method && method.ranges && method.ranges[option]) || [low, high];
    input.min = Math.max(low, min ?? low);
    input.max = Math.min(high, max ?? high);
    input.dispatchEvent(new Event("input"));
  }
}

// ---- jobs -------------------------------------------------------------------------------------------
function showFormError(message) { $("form-error").textContent = message; }

function setMessage(text, bad = false) {
  const message = $("job-message");
  message.textContent = text;
  message.classList.toggle("bad", bad);
}

async function submitJob() {
  await state.loaded;  // a press before the methods arrive waits for them instead of finding none
  const method = currentMethod();
  if (!state.photo) { showFormError("choose a photo first"); return; }
  if (!method) { showFormError("choose a method"); return; }
  if (method.needs_style && !state.style) { showFormError("choose a painting"); return; }
  const form = new FormData();
  form.append("content", state.photo, state.photo.name || "photo");
  const style = method.needs_style ? state.style : null;  // a trained model paints in its own style
  if (style && style.name) form.append("style", style.name);
  if (style && style.file) form.append("style_file", style.file, style.file.name || "painting");
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
  // The result at the size it was painted at, never enlarged (an enlarged small result looks blocky); smaller
  // only to fit the page. Both images fill the same box, so the photo lies exactly under the result.
  const after = $("compare-after");
  const ratio = after.naturalWidth / Math.max(1, after.naturalHeight) || 1;
  $("compare").style.width = `min(100%, ${after.naturalWidth}px, calc(70vh * ${ratio.toFixed(4)}))`;
  $("compare").hidden = false;
  const style = job.style.name || (job.style.uploaded ? "your painting" : job.model || "");
  const method = state.methods.find((known) => known.name === job.method);
  const size = `${$("compare-after").naturalWidth}×${$("compare-after").naturalHeight} px`;
  setMessage(`Done: ${method ? method.label : job.method}${style ? ", " + style : ""}, ${size}. Drag the slider to compare.`);
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
    button.dataset.kind = job.kind;
    button.append(img, caption);
    if (job.kind === "video") {
      const kind = document.createElement("span");
      kind.className = "kind";
      kind.textContent = "video";
      button.append(kind);
    }
    if (job.thumbnail_url) showImage(img, job.thumbnail_url, "history-" + job.id).catch(() => {});
    button.addEventListener("click", () => (job.kind === "video" ? openVideoJob(job) : openImageJob(job)));
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

function openImageJob(job) {
  showTab("image-tab");
  if (job.status === "succeeded") { state.job = job; showResult(job); }
  else if (job.status === "queued" || job.status === "running") watchJob(job);
  else setMessage(`That job ${job.status}${job.error ? ": " + job.error : ""}.`, job.status === "failed");
}

function openVideoJob(job) {
  showTab("video-tab");
  if (job.status === "succeeded") { state.videoJob = job; showVideoResult(job); }
  else if (job.status === "queued" || job.status === "running") watchVideoJob(job);
  else setVideoMessage(`That job ${job.status}${job.error ? ": " + job.error : ""}.`, job.status === "failed");
}

// ---- video ----------------------------------------------------------------------------------------------
// Methods that run on video: trained models, and the optimization on tiny frames (slow).
// Trained models come first: they are the ones made for video.
const videoMethods = () => [...state.methods.filter((method) => method.needs_model),
                            ...state.methods.filter((method) => method.name === "optimize")];

function setVideo(file) {
  if (!file) return;
  if (file.type && !file.type.startsWith("video/")) { showVideoError("that file is not a video"); return; }
  state.video = file;
  const preview = $("video-source");
  const old = state.objectUrls.get("video-source");
  if (old) URL.revokeObjectURL(old);
  const url = URL.createObjectURL(file);
  state.objectUrls.set("video-source", url);
  preview.src = url;
  preview.hidden = false;
  $("video-drop-hint").textContent = file.name + " — drop another to replace it";
  showVideoError("");
}

function setupVideoDrop() {
  const drop = $("video-drop");
  const input = $("video-input");
  drop.addEventListener("click", () => input.click());
  drop.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); input.click(); } });
  input.addEventListener("change", () => setVideo(input.files[0]));
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.remove("over"); });
  }
  drop.addEventListener("drop", (event) => setVideo(event.dataTransfer.files[0]));
}

function loadVideoMethods() {
  const box = $("video-methods");
  box.replaceChildren();
  const methods = videoMethods();
  const hasModel = (method) => state.models.some((model) => model.method === method.name);
  for (const method of methods) {
    const label = document.createElement("label");
    const radio = document.createElement("input");
    radio.type = "radio";
    radio.name = "video-method";
    radio.value = method.name;
    radio.disabled = method.needs_model && !hasModel(method);
    const text = document.createElement("span");
    const hint = document.createElement("small");
    if (method.needs_model) {
      text.textContent = method.label;
      hint.textContent = radio.disabled ? "no trained model installed" : "a trained model, frame by frame";
    } else {
      const most = state.limits.video_optimize_max_size || 128;
      text.textContent = "High quality, tiny";
      hint.textContent = `any painting, at most ${most} px; slow (seconds per frame)`;
    }
    label.append(radio, text, hint);
    radio.addEventListener("change", videoMethodChanged);
    box.append(label);
  }
  $("video-no-model").hidden = methods.some((method) => method.needs_model && hasModel(method));
  const first = box.querySelector("input:not(:disabled)");
  if (first) first.checked = true;
  videoMethodChanged();
}

function currentVideoMethod() {
  const checked = document.querySelector('#video-methods input[name="video-method"]:checked');
  return checked ? state.methods.find((method) => method.name === checked.value) : null;
}

function videoMethodChanged() {
  const method = currentVideoMethod();
  const models = method ? state.models.filter((model) => model.method === method.name) : [];
  const previous = $("video-model").value;
  $("video-model").replaceChildren(...models.map((model) => new Option(model.title || model.name, model.name)));
  const picked = state.style && state.style.name && models.find((model) => model.name === state.style.name);
  if (picked) $("video-model").value = picked.name;  // the painting picked on the Image tab, when a model has it
  else if (models.some((model) => model.name === previous)) $("video-model").value = previous;
  $("video-model-row").hidden = !(method && method.needs_model);
  $("video-style-row").hidden = !(method && !method.needs_model);
  const most = method && !method.needs_model ? (state.limits.video_optimize_max_size || 128) : (state.limits.max_video_size || 720);
  const size = $("video-size");
  for (const option of size.querySelectorAll("option")) option.disabled = Number(option.value) > most;
  if (Number(size.value) > most) size.value = [...size.options].filter((option) => !option.disabled).pop().value;
  $("video-run").disabled = !method || state.limits.video === false;
}

function showVideoError(message) { $("video-form-error").textContent = message; }

function setVideoMessage(text, bad = false) {
  const message = $("video-message");
  message.textContent = text;
  message.classList.toggle("bad", bad);
}

async function submitVideoJob() {
  await state.loaded;
  const method = currentVideoMethod();
  if (!state.video) { showVideoError("choose a clip first"); return; }
  if (!method) { showVideoError("no trained model installed; train one with `painterly train`"); return; }
  const form = new FormData();
  form.append("video", state.video, state.video.name || "clip");
  form.append("method", method.name);
  if (method.needs_model) form.append("model", $("video-model").value);
  else form.append("style", $("video-style").value);
  form.append("size", $("video-size").value);
  form.append("consistency", $("video-consistency").value);
  if ($("video-start").value !== "") form.append("start", $("video-start").value);
  if ($("video-end").value !== "") form.append("end", $("video-end").value);
  $("video-run").disabled = true;
  showVideoError("");
  try {
    const job = await (await api("/api/video-jobs", { method: "POST", body: form })).json();
    watchVideoJob(job);
  } catch (error) {
    showVideoError(error.message);
    $("video-run").disabled = false;
  }
}

function watchVideoJob(job) {
  clearTimeout(state.videoPollTimer);
  state.videoJob = job;
  $("video-result").hidden = true;
  $("video-download").hidden = true;
  $("video-progress").hidden = false;
  $("video-cancel").disabled = false;
  setVideoMessage("");
  updateVideoJob(job);
}

async function updateVideoJob(job) {
  if (!state.videoJob || job.id !== state.videoJob.id) return;
  state.videoJob = job;
  const progress = job.progress;
  $("video-progress-bar").value = progress.fraction;
  let text;
  if (job.status === "queued") text = job.queue_position ? `waiting: ${job.queue_position} job(s) ahead` : "waiting to start";
  else if (job.status === "running") text = progress.total ? `frame ${progress.step} of ${progress.total}${progress.stage ? " · " + progress.stage : ""}` : "starting…";
  else text = job.status;
  $("video-progress-text").textContent = text;
  if (job.status === "queued" || job.status === "running") {
    state.videoPollTimer = setTimeout(pollVideo, 500);
    return;
  }
  $("video-progress").hidden = true;
  $("video-run").disabled = false;
  if (job.status === "succeeded") await showVideoResult(job);
  else if (job.status === "failed") setVideoMessage("The job failed: " + (job.error || "unknown error"), true);
  else setVideoMessage("The job was cancelled.");
  loadHistory().catch(() => {});
}

async function pollVideo() {
  if (!state.videoJob) return;
  try {
    updateVideoJob(await getJSON(`/api/jobs/${state.videoJob.id}`));
  } catch (error) {
    setVideoMessage("Lost the job: " + error.message, true);
    state.videoPollTimer = setTimeout(pollVideo, 2000);
  }
}

async function cancelVideoJob() {
  if (!state.videoJob) return;
  $("video-cancel").disabled = true;
  try {
    updateVideoJob(await (await api(`/api/jobs/${state.videoJob.id}/cancel`, { method: "POST" })).json());
  } catch (error) {
    setVideoMessage(error.message, true);
  }
}

// The video comes through fetch (so the token header goes along) and plays from a blob URL.
async function showVideoResult(job) {
  const blob = await (await api(job.result_url)).blob();
  const url = URL.createObjectURL(blob);
  const old = state.objectUrls.get("video-result");
  if (old) URL.revokeObjectURL(old);
  state.objectUrls.set("video-result", url);
  const player = $("video-result");
  player.src = url;
  player.hidden = false;
  const link = $("video-download");
  link.href = url;
  link.download = `painterly-${job.id.slice(0, 8)}.mp4`;
  link.hidden = false;
  const look = job.model || job.style.name || (job.style.uploaded ? "your painting" : job.method);
  const frames = job.progress.total ? `, ${job.progress.total} frames` : "";
  setVideoMessage(`Done: ${look}${frames}.`);
}

// ---- start -----------------------------------------------------------------------------------------------
function showTab(id) {
  if (id === "video-tab") videoMethodChanged();
  for (const tab of document.querySelectorAll(".tab")) {
    const active = tab.dataset.tab === id;
    tab.classList.toggle("active", active);
    tab.setAttribute("aria-selected", String(active));
    $(tab.dataset.tab).hidden = !active;
  }
}

function setupTabs() {
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => showTab(tab.dataset.tab));
  }
}

function setupSliders() {
  for (const [id, out] of [["strength", "strength-value"], ["style-scale", "style-scale-value"],
                           ["video-consistency", "video-consistency-value"]]) {
    const input = $(id);
    const update = () => { $(out).textContent = Number(input.value).toFixed(2); };
    input.addEventListener("input", update);
    update();
  }
}

async function loadAll() {
  try {
    const health = await getJSON("/api/health");
    $("server-state").textContent = `${health.queued} waiting`;
    $("server-state").title = `${health.workers} worker(s), ${health.queued} job(s) waiting, ${health.running} running`;
    $("size").querySelectorAll("option").forEach((option) => { option.disabled = Number(option.value) > health.limits.max_size; });
    state.limits = { ...health.limits, video: health.video };
    $("video-limits").textContent = health.video
      ? `Up to ${health.limits.max_video_seconds} s of a clip (choose the part below), files up to ${health.limits.max_video_mb} MiB. The sound is kept.`
      : "This server does not run video jobs.";
    await loadStyles();  // first: the models' tiles show their paintings
    await Promise.all([loadMethods(), loadHistory()]);
  } catch (error) {
    $("server-state").textContent = error.message;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  setupTabs();
  setupDrop();
  setupVideoDrop();
  setupSliders();
  setupCompare();
  $("run").addEventListener("click", submitJob);
  $("model").addEventListener("change", () => pickModel($("model").value));
  $("cancel").addEventListener("click", cancelJob);
  $("video-run").addEventListener("click", submitVideoJob);
  $("video-cancel").addEventListener("click", cancelVideoJob);
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = $("token-input").value.trim();
    sessionStorage.setItem("painterly-token", state.token);
    $("token-form").hidden = true;
    $("token-error").textContent = "";
    $("server-state").textContent = "";
    state.loaded = loadAll();
  });
  state.loaded = loadAll();
});
