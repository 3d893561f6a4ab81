// The tagging page: upload -> POST /predict?segments=true -> chips, bars, heatmap over time,
// timings; and the Models view from GET /models (a leaderboard per data source).
// Plain ES modules, no build step, no external requests. URLs are relative so the page works
// behind a path prefix. One module per part: dom (helpers), api (state, requests), tagging (file
// card, upload), results (+ groups, heatmap, export), models (leaderboard).
import { $, el, markScrollable } from "./dom.js";
import { state, KEY, APP_TITLE, showError, loadModels, loadLimits, loadGroups, trainedOnText } from "./api.js";
import { tag, chooseFile, removeFile, showLimits, say } from "./tagging.js";
import { renderTags } from "./results.js";
import { drawSegments, moveCursor, followPlayback } from "./heatmap.js";
import { renderModels, rerenderModels, showSource } from "./models.js";
import { copyJSON, download } from "./export.js";

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

// -- views: #tag (default) and #models, each with its own document title ----------------------
function route() {
  const view = location.hash === "#models" ? "models" : "tag";
  $("view-tag").hidden = view !== "tag";
  $("view-models").hidden = view !== "models";
  $("nav-tag").setAttribute("aria-current", view === "tag" ? "page" : "false");
  $("nav-models").setAttribute("aria-current", view === "models" ? "page" : "false");
  document.title = view === "models" ? `Models – ${APP_TITLE}`
    : state.result && state.resultFile ? `Tags for ${state.resultFile.name} – ${APP_TITLE}`
      : `Tag a file – ${APP_TITLE}`;
  if (view === "models") {
    loadModels().then(renderModels, (err) => showError($("models-error"), err));
  } else if (state.result) {
    drawSegments(state.result); // its width follows the view, which was hidden
  }
}

async function exportResult(how) {
  if (!state.result) return;
  try {
    if (how === "copy") {
      await copyJSON();
      say("Copied the result as JSON.");
    } else {
      say(`Downloaded ${download(how)}.`);
    }
  } catch (e) {
    say(`Could not copy: ${e.message}`);
  }
}

function startup() {
  $("error").hidden = true;
  loadModels().then(fillModelSelect, (err) => showError($("error"), err));
  loadLimits().then(showLimits, () => {}); // a 401 is already said by the models' error
  loadGroups().catch(() => {}); // without the table, synonyms stay apart
  route();
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
  $("group-synonyms").addEventListener("change", () => state.result && renderTags(state.result));
  $("copy-json").addEventListener("click", () => exportResult("copy"));
  $("download-json").addEventListener("click", () => exportResult("json"));
  $("download-csv").addEventListener("click", () => exportResult("csv"));
  $("segments-details").addEventListener("toggle", markScrollable);
  $("metric").addEventListener("change", rerenderModels);
  $("source-filter").addEventListener("change", showSource);
  $("api-key").value = sessionStorage.getItem(KEY) || "";
  $("key-box").hidden = !$("api-key").value;
  $("api-key").addEventListener("change", () => {
    sessionStorage.setItem(KEY, $("api-key").value.trim());
    Object.assign(state, { models: null, limits: null });
    startup();
  });
  let resize;
  window.addEventListener("resize", () => {
    clearTimeout(resize);
    resize = setTimeout(() => { if (state.result) drawSegments(state.result); markScrollable(); }, 150);
  });
  window.addEventListener("hashchange", route);
  startup();
}

init();
