// The tag view's input side: one file card (click, drop or input alike), checks before upload,
// the upload with progress, elapsed time and cancel, and no stale result.
import { $, mib, duration } from "./dom.js";
import { state, apiError, showError, authHeaders, askForKey, APP_TITLE } from "./api.js";
import { renderResult } from "./results.js";

// What the service decodes (docs/API.md "Accepted formats"): checked by type or extension before
// anything is sent, so a text file is refused here with no upload.
const AUDIO_EXTENSIONS = ["mp3", "wav", "flac", "ogg", "oga", "opus", "m4a", "mp4", "aac", "aif",
  "aiff", "wma", "webm", "mkv", "mov", "avi"];
const isAudio = (f) => /^(audio|video)\//.test(f.type) ||
  AUDIO_EXTENSIONS.includes(f.name.split(".").pop().toLowerCase());

export function showLimits(l) {
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
export function chooseFile(file) {
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

export function removeFile() {
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
  state.resultFile = null;
  markStale(false);
  $("results").hidden = true;
  $("player").removeAttribute("src");
  if (state.objectUrl) URL.revokeObjectURL(state.objectUrl);
  state.objectUrl = null;
  document.title = `Tag a file – ${APP_TITLE}`;
}

export function say(text) { $("status").textContent = text; }

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

// Elapsed time beside the progress bar, every quarter second until the returned stop().
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

export async function tag(event) {
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
  state.resultFile = file;
  markStale(false);
  renderResult(body, file, performance.now() - t0);
  say(`Tagged ${file.name}.`);
  document.dispatchEvent(new CustomEvent("tagger:result", { detail: { file, result: body } }));
  document.title = `Tags for ${file.name} – ${APP_TITLE}`;
  $("result-title").focus();
}
