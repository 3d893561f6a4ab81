// The tagging page: upload -> POST /predict?segments=true -> bars, heatmap over time, timings;
// and the models view from GET /models (every model's evaluations, each named by its data).
// Plain JS and SVG, no build step, no external requests. URLs are relative so the page works
// behind a path prefix.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

// -- small helpers --------------------------------------------------------------------------
function el(tag, attrs = {}, ...children) {
  const node = tag.startsWith("svg:")
    ? document.createElementNS(SVG, tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") node.textContent = v;
    else if (k === "class") node.setAttribute("class", v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

const fmt = (x, digits = 3) => (typeof x === "number" && isFinite(x) ? x.toFixed(digits) : "–");
const ms = (x) => (typeof x === "number" ? `${x.toFixed(x < 10 ? 1 : 0)} ms` : "–");
const seconds = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;

// Viridis (perceptually uniform, colour-blind safe), 9 stops, interpolated.
const VIRIDIS = ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80",
  "#5ec962", "#addc30", "#fde725"];
function colour(t) {
  if (typeof t !== "number" || !isFinite(t)) return "#e5e5e5";
  const x = Math.min(Math.max(t, 0), 1) * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(x), VIRIDIS.length - 2);
  const a = hex(VIRIDIS[i]), b = hex(VIRIDIS[i + 1]), f = x - i;
  return `rgb(${a.map((v, k) => Math.round(v + (b[k] - v) * f)).join(",")})`;
}
function hex(h) { return [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)); }
const ink = (t) => (t > 0.6 ? "#111" : "#fff"); // text readable on the cell's colour

function legend(node, lo, hi, label) {
  node.replaceChildren(
    el("span", { text: `${label} ${lo}` }),
    el("span", { class: "ramp", "aria-hidden": "true",
      style: `background: linear-gradient(to right, ${VIRIDIS.join(",")})` }),
    el("span", { text: String(hi) }),
  );
}

// -- errors ---------------------------------------------------------------------------------
const STATUS_TITLES = {
  400: "This file cannot be tagged",
  401: "This service needs an API key: enter it and try again",
  404: "Not found",
  413: "Too large",
  415: "Not audio the service can decode",
  422: "Invalid request",
  429: "Too many requests",
  500: "The service failed",
  503: "The service is busy or starting",
};

// A readable message from an API error: the title for the status and the API's `detail`.
function apiError(status, body, fallback) {
  const detail = body && typeof body.detail === "string" ? body.detail : fallback;
  const tooLong = status === 413 && typeof body?.max_duration_s === "number";
  const title = tooLong ? "Too long" : STATUS_TITLES[status] || (status ? `HTTP ${status}` : "No answer");
  return { title: status ? `${title} (HTTP ${status})` : title, detail };
}

function showError(node, err) {
  node.replaceChildren(el("strong", { text: err.title }), el("p", { text: err.detail }));
  node.hidden = false;
}

// With TAGGER_API_KEYS set the API answers 401: the page then asks for a key (kept for this tab
// only) and sends it as `Authorization: Bearer <key>`.
const KEY = "tagger-api-key";
function authHeaders() {
  const key = sessionStorage.getItem(KEY);
  return key ? { Authorization: `Bearer ${key}` } : {};
}
function askForKey() {
  $("key-box").hidden = false;
  $("api-key").focus();
}

async function getJSON(url) {
  let response;
  try {
    response = await fetch(url, { headers: { Accept: "application/json", ...authHeaders() } });
  } catch (e) {
    throw apiError(0, null, `could not reach the service (${e.message})`);
  }
  const body = await response.json().catch(() => null);
  if (response.status === 401) askForKey();
  if (!response.ok) throw apiError(response.status, body, response.statusText);
  return body;
}

// -- models: shared by the selector and the models view --------------------------------------
const state = { models: null, limits: null, result: null, file: null, fileUrl: null, objectUrl: null, run: null };
const APP_TITLE = "MTAT music tagger";

async function loadModels() {
  if (!state.models) state.models = await getJSON("models");
  return state.models;
}

const realMTAT = (m) => m.trained_on === "mtat";
const trainedOnText = (m) =>
  m.trained_on === "mtat" ? "real MTAT" : m.trained_on ? m.trained_on : "unknown";

// Real-MTAT (not synthetic) models first, then the synthetic pipeline demos in their own group;
// the default model is one entry (value "": requests without ?model=).
function fillModelSelect(models) {
  const select = $("model");
  const option = (m) => el("option", { value: m.default ? "" : m.name,
    text: `${m.name} (${[m.default ? "default" : null, trainedOnText(m), `${m.tags.length} tags`]
      .filter(Boolean).join(", ")})` });
  const synthetic = models.models.filter((m) => m.trained_on === "synthetic");
  const real = models.models.filter((m) => m.trained_on !== "synthetic");
  const groups = [
    real.length ? el("optgroup", { label: "Trained on real music" }, ...real.map(option)) : null,
    synthetic.length ? el("optgroup", { label: "Synthetic: pipeline demos" }, ...synthetic.map(option)) : null,
  ].filter(Boolean);
  const fallback = models.models.some((m) => m.default) ? [] : [el("option", { value: "", text: "service default" })];
  select.replaceChildren(...fallback, ...groups);
  select.value = "";
  $("model-hint").hidden = !synthetic.length;
}

// One model's evaluations (GET /models), headline first: the data each was measured on, and by
// whom: this project (training.evaluate) or a named source.
// Short names for the heatmap's rows (the full description is in the table and the tooltips).
const SHORT_DATA = [[/^mtat/, "real MTAT test"], [/^synthetic/, "synthetic test"],
  [/^real_recordings/, "real recordings"]];

function evaluations(m) {
  return (m.evaluations || []).map((ev) => ({
    data: ev.data || ev.id || "unnamed data",
    short: SHORT_DATA.find(([re]) => re.test(ev.id || ""))?.[1] || ev.id || "unnamed data",
    origin: ev.measured_by === "project" ? "measured here"
      : `from ${ev.source || ev.citation || "its source"}`,
    per_tag: ev.per_tag || {},
    macro: ev.macro || {},
  }));
}

// -- tagging --------------------------------------------------------------------------------
// What the service decodes (docs/API.md "Accepted formats"): checked by type or extension before
// anything is sent, so a text file is refused here with no upload.
const AUDIO_EXTENSIONS = ["mp3", "wav", "flac", "ogg", "oga", "opus", "m4a", "mp4", "aac", "aif",
  "aiff", "wma", "webm", "mkv", "mov", "avi"];
const isAudio = (f) => /^(audio|video)\//.test(f.type) ||
  AUDIO_EXTENSIONS.includes(f.name.split(".").pop().toLowerCase());
const mib = (bytes) => `${(bytes / 1048576).toFixed(1)} MiB`;
const duration = (s) => (s >= 60 ? `${seconds(s)} min` : `${s.toFixed(s < 10 ? 1 : 0)} s`);

async function loadLimits() {
  if (!state.limits) state.limits = await getJSON("limits");
  return state.limits;
}

function showLimits(l) {
  $("limits-hint").textContent = `Up to ${l.max_upload_mb} MiB and ${duration(l.max_duration_s)} ` +
    `of audio; at least ${duration(l.min_duration_s)}.`;
}

// Why a file cannot be sent, or null: not audio by type or name, or over the size limit.
function refusal(file) {
  if (!isAudio(file)) {
    return { title: "Not an audio file",
      detail: `${file.name} is not audio: choose an MP3, WAV, FLAC, OGG, Opus, M4A or a video with sound.` };
  }
  const max = state.limits?.max_upload_bytes;
  if (max && file.size > max) {
    return { title: "Too large", detail: `${file.name} is ${mib(file.size)}; this service takes up to ${mib(max)}.` };
  }
  return null;
}

// One file, whether clicked, dropped or picked: the input holds it too, the card describes it.
function chooseFile(file) {
  $("error").hidden = true;
  if (state.fileUrl) URL.revokeObjectURL(state.fileUrl);
  state.fileUrl = null;
  const refused = file ? refusal(file) : null;
  state.file = file && !refused ? file : null;
  if (refused) showError($("error"), refused);
  if (!state.file) $("file").value = "";
  else if ($("file").files[0] !== file) {
    const t = new DataTransfer();
    t.items.add(file);
    $("file").files = t.files;
  }
  $("file-card").hidden = !state.file;
  if (!state.file) return;
  if (state.result) markStale(true);
  $("file-name").textContent = file.name;
  $("file-remove").setAttribute("aria-label", `Remove ${file.name}`);
  describeFile(file, null);
  // The duration as the browser reads it from the file's header (an <audio> element's metadata).
  state.fileUrl = URL.createObjectURL(file);
  const probe = new Audio();
  probe.preload = "metadata";
  probe.onloadedmetadata = () => state.file === file && describeFile(file, probe.duration);
  probe.onerror = () => state.file === file && describeFile(file, NaN);
  probe.src = state.fileUrl;
}

function describeFile(file, s) {
  const max = state.limits?.max_duration_s;
  const length = s === null ? "reading duration…" : isFinite(s) ? duration(s) : "duration unknown";
  $("file-meta").textContent = `${length} · ${mib(file.size)}` +
    (isFinite(s) && max && s > max ? ` · over the ${duration(max)} limit` : "");
}

function removeFile() {
  chooseFile(null);
  $("file").focus();
}

// The previous result stays readable but dimmed while it no longer matches the file or a run.
function markStale(stale) {
  $("results").classList.toggle("stale", stale);
  if (stale) $("results").setAttribute("aria-busy", "true");
  else $("results").removeAttribute("aria-busy");
}

function clearResult() {
  state.result = null;
  markStale(false);
  $("results").hidden = true;
  $("player").removeAttribute("src");
  if (state.objectUrl) URL.revokeObjectURL(state.objectUrl);
  state.objectUrl = null;
}

function say(text) { $("status").textContent = text; }

function setBusy(label, fraction) {
  $("progress").hidden = label === null;
  $("tag-button").disabled = label !== null;
  if (label === null) return;
  if ($("progress-phase").textContent !== label) say(label);
  $("progress-phase").textContent = label;
  const bar = $("progress-bar");
  if (fraction === null) bar.removeAttribute("value"); // indeterminate while the model runs
  else bar.value = fraction;
}

// Elapsed time under the progress bar, every quarter second until stop() is called.
function startClock() {
  const t0 = performance.now();
  const tick = () => { $("elapsed").textContent = `${((performance.now() - t0) / 1000).toFixed(0)} s`; };
  tick();
  const id = setInterval(tick, 250);
  return () => clearInterval(id);
}

// POST the file with XMLHttpRequest (fetch cannot report upload progress); the signal aborts it.
function upload(file, params, signal) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `predict?${params}`);
    xhr.responseType = "json";
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) setBusy(`Uploading… ${Math.round((100 * e.loaded) / e.total)} %`, e.loaded / e.total);
    };
    xhr.upload.onload = () => setBusy("Tagging…", null);
    xhr.onload = () => resolve({ status: xhr.status, body: xhr.response });
    xhr.onerror = () => resolve({ status: 0, body: null });
    xhr.onabort = () => resolve({ status: -1, body: null });
    signal.addEventListener("abort", () => xhr.abort());
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

async function tag(event) {
  event.preventDefault();
  $("error").hidden = true;
  const file = state.file;
  if (!file) {
    showError($("error"), { title: "No file chosen", detail: "Choose an audio file or drop one in the box first." });
    return;
  }
  const params = new URLSearchParams({ segments: "true" });
  const name = $("model").value;
  if (name) params.set("model", name);
  if ($("all-tags").checked) params.set("all_tags", "true");
  if (state.result) markStale(true);
  state.run = new AbortController();
  setBusy("Uploading…", 0);
  const stop = startClock();
  const t0 = performance.now();
  const { status, body } = await upload(file, params, state.run.signal);
  stop();
  state.run = null;
  setBusy(null);
  if (status === 401) askForKey();
  if (status !== 200 || !body || !Array.isArray(body.tags)) {
    clearResult();
    if (status === -1) { say(`Cancelled: ${file.name} was not tagged.`); return; }
    say("");
    showError($("error"), apiError(status, body, status === 0
      ? "The connection closed before an answer: the service may be down, or the file may be over its upload limit."
      : "The service answered without a result."));
    return;
  }
  state.result = body;
  renderResult(body, file, performance.now() - t0);
  say(`Tagged ${file.name}.`);
  document.dispatchEvent(new CustomEvent("tagger:result", { detail: { file, result: body } }));
  document.title = `Tags for ${file.name} – ${APP_TITLE}`;
  $("result-title").focus();
}

function renderResult(r, file, roundTripMs) {
  $("results").hidden = false;
  markStale(false);
  $("result-title").textContent = `Tags for ${file.name}`;
  const card = state.models?.models.find((m) => m.name === r.model);
  $("synthetic-banner").hidden = card?.trained_on !== "synthetic";
  $("synthetic-banner").textContent = `Pipeline demo: ${r.model} was trained on synthetic audio, ` +
    "so these tags say nothing reliable about the music.";
  $("summary").textContent =
    `${file.name}: ${r.duration_s.toFixed(1)} s, tagged by ${r.model}. Top tag: ${r.tags[0]?.tag ?? "none"}.`;
  renderDecisions(r);
  $("bars").replaceChildren(...r.tags.map(bar));
  if (state.objectUrl) URL.revokeObjectURL(state.objectUrl);
  state.objectUrl = URL.createObjectURL(file);
  $("player").src = state.objectUrl;
  drawSegments(r);
  const rows = [
    ["Model", r.model], ["Provider", r.provider],
    ["Decode", ms(r.timings.decode_ms)], ["Inference", ms(r.timings.inference_ms)],
    ["Service total", ms(r.timings.total_ms)], ["Upload + answer (this browser)", ms(roundTripMs)],
    ["Audio", `${r.duration_s.toFixed(2)} s at ${r.sample_rate} Hz`],
    ["Chunks", `${r.n_chunks} of ${r.chunk_s.toFixed(2)} s averaged` +
      (typeof r.heard_s === "number" ? `, hearing ${r.heard_s.toFixed(1)} s` : "")],
  ];
  $("timings").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
}

// One tag's bar; with the decisions API a threshold mark (per-tag `threshold`) and, when the tag
// is decided (`present`), a highlight and a ✓. Answers without those fields get plain bars.
function bar(t) {
  const threshold = typeof t.threshold === "number" ? t.threshold : null;
  const decided = t.present === true;
  const said = [`${t.tag}: probability ${fmt(t.probability)}`,
    threshold !== null ? `threshold ${fmt(threshold)}` : null,
    decided ? "decided" : t.present === false ? "not decided" : null].filter(Boolean).join(", ");
  return el("li", { class: decided ? "bar decided" : "bar", "data-tag": t.tag,
    "data-present": t.present === undefined || t.present === null ? null : String(t.present),
    "aria-label": said },
    el("span", { class: "bar-tag", text: decided ? `✓ ${t.tag}` : t.tag }),
    el("span", { class: "bar-track", "aria-hidden": "true" },
      el("span", { class: "bar-fill", style: `width: ${(100 * t.probability).toFixed(1)}%` }),
      threshold !== null ? el("span", { class: "bar-threshold", "data-threshold": threshold,
        title: `threshold ${fmt(threshold)}`, style: `left: ${(100 * threshold).toFixed(1)}%` }) : null),
    el("span", { class: "bar-value", text: fmt(t.probability) }));
}

// Above the bars: the decided tags (`labels`) as chips, or why nothing is decided
// (`decision.reason`); and how much of a long recording the answer heard (`heard_s`).
function renderDecisions(r) {
  const labels = Array.isArray(r.labels) ? r.labels : null;
  $("labels").hidden = !labels || !labels.length;
  $("labels").replaceChildren(...(labels || []).map((l) => el("li", { class: "chip", text: l })));
  const reason = r.decision && r.decision.reason;
  const why = !labels && reason ? `No tags decided: ${reason}`
    : labels && !labels.length ? "No tag reaches its threshold." : null;
  $("decision-reason").hidden = !why;
  $("decision-reason").textContent = why || "";
  $("bars-hint").hidden = !r.tags.some((t) => typeof t.threshold === "number");
  const long = typeof r.heard_s === "number" && r.duration_s > 30;
  $("heard").hidden = !long;
  $("heard").textContent = long
    ? `Heard ${r.heard_s.toFixed(0)} s of ${r.duration_s.toFixed(0)} s (${r.n_chunks} chunks of ` +
      `${r.chunk_s.toFixed(1)} s spread over the track).`
    : "";
}

// The heatmap over time: one row per tag (the order of the bars), one column per segment.
function drawSegments(r) {
  const host = $("heatmap");
  const segments = r.segments || [];
  const tags = r.tags.map((t) => t.tag);
  const labelW = 84, rowH = 18, axisH = 18;
  const width = Math.max(host.clientWidth || 600, 280);
  const plotW = width - labelW - 4;
  const duration = r.duration_s || 1;
  const x = (s) => labelW + (plotW * s) / duration;
  const svg = el("svg:svg", {
    width, height: tags.length * rowH + axisH, class: "segments", tabindex: "0", role: "img",
    "data-segments": segments.length,
    "aria-label": `Tag probabilities over ${segments.length} segments of the track; arrow keys move the playback`,
  });
  tags.forEach((tag, row) => {
    svg.append(el("svg:text", { x: labelW - 6, y: row * rowH + rowH / 2, class: "row-label",
      "text-anchor": "end", "dominant-baseline": "central", text: tag }));
    segments.forEach((s, i) => {
      const end = i + 1 < segments.length ? Math.min(segments[i + 1].start_s, s.end_s) : s.end_s;
      const p = s.probabilities[tag];
      svg.append(el("svg:rect", { class: "cell", x: x(s.start_s), y: row * rowH,
        width: Math.max(x(end) - x(s.start_s), 1), height: rowH - 1, fill: colour(p),
        "data-segment": i, "data-tag": tag },
        el("svg:title", { text: `${tag} ${seconds(s.start_s)}–${seconds(end)}: ${fmt(p)}` })));
    });
  });
  const y = tags.length * rowH;
  for (const [t, anchor] of [[0, "start"], [duration / 2, "middle"], [duration, "end"]]) {
    svg.append(el("svg:text", { x: x(t), y: y + axisH - 4, class: "axis", "text-anchor": anchor, text: seconds(t) }));
  }
  const cursor = el("svg:line", { id: "cursor", x1: x(0), x2: x(0), y1: 0, y2: y, class: "cursor" });
  svg.append(cursor);
  const seek = (t) => { $("player").currentTime = Math.min(Math.max(t, 0), duration); moveCursor(); };
  svg.addEventListener("click", (e) => {
    const box = svg.getBoundingClientRect();
    seek(((e.clientX - box.left - labelW) / plotW) * duration);
  });
  svg.addEventListener("keydown", (e) => {
    const step = r.chunk_s || 1, now = $("player").currentTime;
    const to = { ArrowRight: now + step, ArrowLeft: now - step, Home: 0, End: duration }[e.key];
    if (to !== undefined) { e.preventDefault(); seek(to); }
  });
  host.replaceChildren(svg);
  legend($("heatmap-legend"), 0, 1, `${segments.length} segments of ${fmt(r.chunk_s, 2)} s · probability`);
  moveCursor();
}

function moveCursor() {
  const cursor = $("cursor"), r = state.result;
  if (!cursor || !r) return;
  const svg = cursor.ownerSVGElement, labelW = 84;
  const plotW = Number(svg.getAttribute("width")) - labelW - 4;
  const px = labelW + (plotW * Math.min($("player").currentTime, r.duration_s)) / (r.duration_s || 1);
  cursor.setAttribute("x1", px);
  cursor.setAttribute("x2", px);
}

function followPlayback() {
  moveCursor();
  if (!$("player").paused) requestAnimationFrame(followPlayback);
}

// -- models view ----------------------------------------------------------------------------
function renderModels(models) {
  const list = models.models;
  const real = list.filter(realMTAT).map((m) => m.name);
  $("models-summary").textContent = `${list.length} model(s); default: ${models.default_model ?? "none"}; ` +
    (real.length ? `trained on real MTAT: ${real.join(", ")}.` : "none is trained on real MTAT audio.") +
    ` Providers available: ${models.available_providers.join(", ")}.`;
  $("models-table").tBodies[0].replaceChildren(...list.map((m) => {
    const evs = evaluations(m);
    return el("tr", { "data-model": m.name },
      el("th", { scope: "row" }, m.name, m.default ? el("span", { class: "badge", text: "default" }) : null),
      el("td", {}, el("span", { class: realMTAT(m) ? "badge real" : "badge", text: trainedOnText(m) })),
      el("td", { text: m.architecture ?? "–" }),
      el("td", { class: "num", text: m.parameters ? m.parameters.toLocaleString("en") : "–" }),
      el("td", { class: "num", text: String(m.tags.length) }),
      el("td", {}, evs.length ? el("ul", { class: "evals" }, ...evs.map((ev) => el("li", {},
        `${ev.data}: ROC-AUC ${fmt(ev.macro.roc_auc)}, PR-AUC ${fmt(ev.macro.pr_auc)}`,
        ev.origin ? el("span", { class: "origin", text: ` (${ev.origin})` }) : null)))
        : "not evaluated"),
      el("td", { text: m.loaded ? `${m.provider}${m.fallback ? " (CUDA fallback)" : ""}` : "not loaded" }));
  }));
  const invalid = Object.entries(models.invalid || {});
  $("models-invalid").hidden = !invalid.length;
  $("models-invalid").textContent = invalid.map(([n, why]) => `${n}: ${why}`).join("; ");
  renderScores();
}

// Per-tag scores of every evaluation: a heatmap and the same numbers in a table.
function renderScores() {
  const models = state.models;
  if (!models) return;
  const metric = $("metric").value;
  const label = metric === "roc_auc" ? "ROC-AUC" : "PR-AUC";
  const lo = metric === "roc_auc" ? 0.5 : 0; // ROC-AUC 0.5 is chance
  const scale = (v) => (typeof v === "number" ? (v - lo) / (1 - lo) : NaN);
  const tags = [...new Set(models.models.flatMap((m) => m.tags))];
  const rows = models.models.flatMap((m) => evaluations(m).map((ev) => ({ model: m, ev })));
  const value = (row, tag) => row.ev.per_tag[tag]?.[metric];
  const several = new Set(rows.map((r) => r.model.name)).size < rows.length;
  const rowName = (row) =>
    `${row.model.name}${realMTAT(row.model) ? " ★" : ""}${several ? ` · ${row.ev.short}` : ""}`;

  const labelW = Math.max(80, 7 * Math.max(0, ...rows.map((r) => rowName(r).length)) + 12);
  const cell = 30, headH = 86;
  const svg = el("svg:svg", { width: labelW + cell * (tags.length + 1) + 8,
    height: headH + cell * rows.length, role: "img", class: "scores",
    "aria-label": `${label} per tag for ${rows.length} evaluation(s); the same numbers are in the table below` });
  [...tags, "macro"].forEach((tag, j) => {
    const cx = labelW + j * cell + cell / 2;
    svg.append(el("svg:text", { x: cx, y: headH - 6, class: "col-label",
      transform: `rotate(-55 ${cx} ${headH - 6})`, text: tag }));
  });
  rows.forEach((row, i) => {
    svg.append(el("svg:text", { x: labelW - 6, y: headH + i * cell + cell / 2, class: "row-label",
      "text-anchor": "end", "dominant-baseline": "central", text: rowName(row) }));
    [...tags, "macro"].forEach((tag, j) => {
      const v = tag === "macro" ? row.ev.macro[metric] : value(row, tag);
      svg.append(el("svg:rect", { x: labelW + j * cell, y: headH + i * cell, width: cell - 1,
        height: cell - 1, fill: colour(scale(v)), "data-model": row.model.name, "data-tag": tag },
        el("svg:title", { text: `${rowName(row)} (${row.ev.data}), ${tag}: ${label} ${fmt(v)}` })));
      if (typeof v === "number") {
        svg.append(el("svg:text", { x: labelW + j * cell + cell / 2, y: headH + i * cell + cell / 2,
          class: "cell-value", fill: ink(scale(v)), "text-anchor": "middle",
          "dominant-baseline": "central", text: v.toFixed(2).replace(/^0/, "") }));
      }
    });
  });
  $("scores-heatmap").replaceChildren(rows.length ? svg : el("p", { text: "No model has an evaluation." }));
  legend($("scores-legend"), lo, 1, label);

  const table = $("scores-table");
  $("scores-caption").textContent = `${label} per tag (★ = trained on real MTAT)`;
  $("scores-hint").textContent = several
    ? "One row per evaluation: each model on each data set it was evaluated on."
    : "One row per model, evaluated on the data named in the table of models above.";
  table.tHead.replaceChildren(el("tr", {}, el("th", { scope: "col", text: "Model" }),
    ...[...tags, "macro"].map((t) => el("th", { scope: "col", text: t })),
    several ? el("th", { scope: "col", text: "Evaluated on" }) : null));
  table.tBodies[0].replaceChildren(...rows.map((row) => el("tr", { "data-model": row.model.name },
    el("th", { scope: "row", text: row.model.name + (realMTAT(row.model) ? " ★" : "") }),
    ...[...tags, "macro"].map((t) => {
      const v = t === "macro" ? row.ev.macro[metric] : value(row, t);
      return el("td", { class: "num", text: fmt(v) });
    }),
    several ? el("td", { class: "data", text: `${row.ev.data} (${row.ev.origin})` }) : null)));
  markScrollable();
}

// Scroll boxes (role="region", named) are in the tab order only while they scroll, so a keyboard
// can reach their hidden part.
function markScrollable() {
  for (const box of document.querySelectorAll(".scroll-box")) {
    if (box.scrollWidth > box.clientWidth + 1) box.setAttribute("tabindex", "0");
    else box.removeAttribute("tabindex");
  }
}

// -- router ---------------------------------------------------------------------------------
function route() {
  const view = location.hash === "#models" ? "models" : "tag";
  $("view-tag").hidden = view !== "tag";
  $("view-models").hidden = view !== "models";
  $("nav-tag").setAttribute("aria-current", view === "tag" ? "page" : "false");
  $("nav-models").setAttribute("aria-current", view === "models" ? "page" : "false");
  document.title = view === "models" ? `Models – ${APP_TITLE}`
    : state.result && state.file ? `Tags for ${state.file.name} – ${APP_TITLE}` : `Tag a file – ${APP_TITLE}`;
  if (view === "models") {
    loadModels().then(renderModels, (err) => showError($("models-error"), err));
  }
}

function init() {
  $("tag-form").addEventListener("submit", tag);
  $("file").addEventListener("change", () => chooseFile($("file").files[0] || null));
  $("file-remove").addEventListener("click", removeFile);
  $("cancel-button").addEventListener("click", () => state.run?.abort());
  const drop = $("drop");
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const type of ["dragleave", "drop"]) {
    drop.addEventListener(type, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    if (e.dataTransfer.files.length) chooseFile(e.dataTransfer.files[0]);
  });
  $("player").addEventListener("play", followPlayback);
  $("player").addEventListener("seeked", moveCursor);
  $("player").addEventListener("timeupdate", moveCursor);
  $("metric").addEventListener("change", renderScores);
  $("api-key").value = sessionStorage.getItem(KEY) || "";
  $("key-box").hidden = !$("api-key").value;
  $("api-key").addEventListener("change", () => {
    sessionStorage.setItem(KEY, $("api-key").value.trim());
    state.models = null;
    $("error").hidden = true;
    state.limits = null;
    loadModels().then(fillModelSelect, (err) => showError($("error"), err));
    loadLimits().then(showLimits, () => {});
    route();
  });
  let resize;
  window.addEventListener("resize", () => {
    clearTimeout(resize);
    resize = setTimeout(() => { if (state.result) drawSegments(state.result); markScrollable(); }, 150);
  });
  window.addEventListener("hashchange", route);
  loadModels().then(fillModelSelect, (err) => showError($("error"), err));
  loadLimits().then(showLimits, () => {}); // a 401 is already said by the models' error
  route();
}

init();
