// The Models view: a leaderboard per data source from GET /models (real MTAT first, synthetic
// last), each sorted by its macro score, the data described once per source, per-tag scores
// folded under each row.
import { $, el, fmt, colour, ink, markScrollable } from "./dom.js";
import { state, trainedOnText } from "./api.js";

// Data sources by evaluation id, in the order shown; what each one means, said once.
const SOURCES = [
  { key: "mtat", test: /^mtat/, title: "Real MTAT test split",
    note: "MagnaTagATune test clips: the real music these tags come from." },
  { key: "real", test: /^real/, title: "Real recordings (not MTAT)",
    note: "A handful of real recordings with weak labels among the project's ten tags: " +
      "a sanity check, too small to rank models by." },
  { key: "synthetic", test: /^synthetic/, title: "Synthetic test split",
    note: "Generated audio: high scores show that the pipeline works end to end, not that a " +
      "model describes music." },
  { key: "other", test: /./, title: "Other data", note: "" },
];
const METRICS = { roc_auc: "ROC-AUC", pr_auc: "PR-AUC" };

const sourceOf = (ev) => SOURCES.find((s) => s.test.test(ev.id || "")) || SOURCES.at(-1);
const realMTAT = (m) => m.trained_on === "mtat";
const short = (p) => (p ? p.replace(/ExecutionProvider$/, "") : null);
const origin = (ev) => (ev.measured_by === "project" ? "measured by this project"
  : `published by ${ev.source || ev.citation || "its source"}`);

// Rows of one source: each model's first evaluation on it, sorted by macro `metric` (missing
// values last), with the letter of its data description when the source has several. Each
// description is said once: the data, then who measured it (naming the models where that
// differs between them).
function board(models, source, metric) {
  const rows = [];
  for (const m of models) {
    const ev = (m.evaluations || []).find((e) => sourceOf(e) === source);
    if (ev) rows.push({ model: m, ev });
  }
  const value = (r) => r.ev.macro?.[metric];
  rows.sort((a, b) => (value(b) ?? -1) - (value(a) ?? -1) || a.model.name.localeCompare(b.model.name));
  const names = [...new Set(rows.map((r) => r.ev.data))];
  const data = names.map((d) => {
    const same = rows.filter((r) => r.ev.data === d);
    const origins = [...new Set(same.map((r) => origin(r.ev)))];
    return origins.length === 1 ? `${d} (${origins[0]})` : `${d}; ` + origins.map((o) =>
      `${same.filter((r) => origin(r.ev) === o).map((r) => r.model.name).join(", ")}: ${o}`).join("; ");
  });
  rows.forEach((r) => { r.letter = data.length > 1 ? "ABCDEFGHIJ"[names.indexOf(r.ev.data)] : null; });
  return { rows, data };
}

export function renderModels(models) {
  const list = models.models;
  const metric = $("metric").value;
  const providers = new Set(list.filter((m) => m.loaded).map((m) => m.provider));
  $("models-summary").textContent = sharedFacts(models, providers);
  const filter = $("source-filter");
  const chosen = filter.value || "all";
  const boards = SOURCES.map((s) => ({ source: s, ...board(list, s, metric) }))
    .filter((b) => b.rows.length);
  filter.replaceChildren(el("option", { value: "all", text: "All data sources" }),
    ...boards.map((b) => el("option", { value: b.source.key,
      text: `${b.source.title} (${b.rows.length})` })));
  filter.value = boards.some((b) => b.source.key === chosen) ? chosen : "all";
  $("leaderboard").replaceChildren(...boards.map((b) =>
    boardSection(b, metric, providers.size !== 1)));
  showSource();
  const invalid = Object.entries(models.invalid || {});
  $("models-invalid").hidden = !invalid.length;
  $("models-invalid").textContent = invalid.map(([n, why]) => `${n}: ${why}`).join("; ");
}

// What holds for every row, said once above the boards: counts by training data, the default,
// the provider (when all loaded models share one), what "macro" means, who has no evaluation.
function sharedFacts(models, providers) {
  const list = models.models;
  const real = list.filter(realMTAT).length;
  const synthetic = list.filter((m) => m.trained_on === "synthetic").length;
  const unevaluated = list.filter((m) => !(m.evaluations || []).length).map((m) => m.name);
  const only = providers.size === 1 ? [...providers][0] : null;
  return [
    `${list.length} models: ${real || "none"} trained on real MTAT audio` +
      (synthetic ? `, ${synthetic} on synthetic audio (pipeline demos).` : "."),
    `Default: ${models.default_model ?? "none"}.`,
    only ? `Loaded models run on ${short(only)} (${only}).` : null,
    "Macro scores are the mean over the tags each evaluation scores (its row says how many); " +
      "ROC-AUC 0.5 is chance.",
    unevaluated.length ? `Not evaluated: ${unevaluated.join(", ")}.` : null,
  ].filter(Boolean).join(" ");
}

export function showSource() {
  const key = $("source-filter").value;
  for (const section of $("leaderboard").children) {
    section.hidden = key !== "all" && section.dataset.source !== key;
  }
  markScrollable();
}

function boardSection({ source, rows, data }, metric, perRowProvider) {
  const id = `board-${source.key}`;
  const label = METRICS[metric];
  const notes = data.length === 1
    ? [el("p", { class: "data-note" }, el("strong", { text: "Data: " }), data[0])]
    : [el("ul", { class: "data-note" }, ...data.map((d, i) =>
      el("li", {}, el("strong", { text: `Data ${"ABCDEFGHIJ"[i]}: ` }), d)))];
  return el("section", { class: "board", "data-source": source.key, "aria-labelledby": `${id}-title` },
    el("h3", { id: `${id}-title`, text: source.title }),
    source.note ? el("p", { class: "hint", text: source.note }) : null,
    ...notes,
    el("div", { class: "table-wrap scroll-box", role: "region",
      "aria-label": `Leaderboard: ${source.title}` },
    el("table", { class: "leaderboard", "data-source": source.key },
      el("caption", { text: `Sorted by macro ${label}, highest first` }),
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Model" }),
        ...Object.entries(METRICS).map(([key, name]) => el("th", { scope: "col", class: "num",
          "aria-sort": key === metric ? "descending" : null, text: name })),
        el("th", { scope: "col", text: "Per tag" }))),
      el("tbody", {}, ...rows.flatMap((row, i) =>
        boardRows(row, i, `${id}-${i}`, metric, perRowProvider))))));
}

function boardRows({ model: m, ev, letter }, i, id, metric, perRowProvider) {
  const scores = Object.values(ev.per_tag || {});
  const scored = scores.some((s) => typeof s?.[metric] === "number");
  const meta = [m.architecture,
    m.parameters ? `${Number(m.parameters).toLocaleString("en")} params` : null,
    `${scores.length || m.tags.length} tags`, letter ? `data ${letter}` : null,
    ev.measured_model ? `scores of ${ev.measured_model.split(";")[0]}` : null,
    perRowProvider ? (m.loaded ? short(m.provider) : "not loaded") : null,
  ].filter(Boolean).join(" · ");
  const button = el("button", { type: "button", class: "secondary small", "aria-expanded": "false",
    "aria-controls": id, "aria-label": `Show per-tag scores of ${m.name}`, text: "Show" });
  const detail = el("tr", { class: "detail", id, hidden: "hidden" },
    el("td", { colspan: "4" }, perTag(m, ev, metric)));
  button.addEventListener("click", () => {
    const open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", String(open));
    button.textContent = open ? "Hide" : "Show"; // the visible word starts the accessible name
    button.setAttribute("aria-label", `${button.textContent} per-tag scores of ${m.name}`);
    detail.hidden = !open;
    markScrollable();
  });
  return [el("tr", { "data-model": m.name, "data-real": String(realMTAT(m)) },
    el("th", { scope: "row" },
      el("span", { class: "rank", text: `${i + 1}.` }), " ",
      el("span", { class: "model-name" }, ...breakable(m.name)),
      m.default ? el("span", { class: "badge", text: "default" }) : null,
      el("span", { class: realMTAT(m) ? "badge real" : "badge", text: trainedOnText(m) }),
      el("span", { class: "meta", text: meta })),
    el("td", { class: "num", text: fmt(ev.macro?.roc_auc) }),
    el("td", { class: "num", text: fmt(ev.macro?.pr_auc) }),
    el("td", {}, scored ? button : el("span", { class: "hint", text: "none" }))), detail];
}

// One model's per-tag scores on one source: a cell per tag, coloured by the score (ROC-AUC from
// chance 0.5 to 1, PR-AUC from 0 to 1), its text white or black by the cell's luminance.
function perTag(m, ev, metric) {
  const lo = metric === "roc_auc" ? 0.5 : 0;
  const scale = (v) => (typeof v === "number" ? (v - lo) / (1 - lo) : NaN);
  const tags = Object.keys(ev.per_tag || {});
  return el("ul", { class: "score-grid", "aria-label": `${METRICS[metric]} per tag of ${m.name}` },
    ...tags.map((tag) => {
      const v = ev.per_tag[tag]?.[metric];
      return el("li", { class: "score", "data-tag": tag,
        style: `background: ${colour(scale(v))}; color: ${ink(scale(v))}` },
      el("span", { class: "score-tag", text: tag }), el("span", { class: "score-value", text: fmt(v) }));
    }));
}

export function rerenderModels() {
  if (state.models) renderModels(state.models);
}

// A model name with a line-break opportunity after each "_" (won_musicnn_int8 on a phone):
// it wraps between its parts, never inside one.
function breakable(name) {
  return name.split("_").flatMap((part, i, parts) =>
    i < parts.length - 1 ? [`${part}_`, el("wbr")] : [part]);
}
