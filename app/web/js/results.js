// One result of POST /predict: decided tags as chips, bars (synonyms grouped), how the headline
// and the heatmap were made, exports, the heatmap and the timings.
import { $, el, fmt, ms, secs, provider } from "./dom.js";
import { state } from "./api.js";
import { drawSegments } from "./heatmap.js";
import { groupTags, groupLabels, groupsApply } from "./groups.js";

export function renderResult(r, file, roundTripMs) {
  $("results").hidden = false;
  $("result-title").textContent = `Tags for ${file.name}`;
  const card = state.models?.models.find((m) => m.name === r.model);
  $("synthetic-banner").hidden = card?.trained_on !== "synthetic";
  $("synthetic-banner").textContent = `Pipeline demo: ${r.model} was trained on synthetic audio, ` +
    "so these tags say nothing reliable about the music.";
  $("summary").textContent =
    `${file.name}: ${r.duration_s.toFixed(1)} s, tagged by ${r.model}. Top tag: ${r.tags[0]?.tag ?? "none"}.`;
  $("coverage").textContent = coverage(r);
  $("group-box").hidden = !groupsApply(r.tags, state.groups);
  renderTags(r);
  if (state.objectUrl) URL.revokeObjectURL(state.objectUrl);
  state.objectUrl = URL.createObjectURL(file);
  $("player").src = state.objectUrl;
  drawSegments(r);
  const rows = [
    ["Model", r.model], ["Runs on", provider(r.provider)],
    ["Decode", ms(r.timings.decode_ms)], ["Inference", ms(r.timings.inference_ms)],
    ["Service total", ms(r.timings.total_ms)], ["Upload + answer (this browser)", ms(roundTripMs)],
    ["Audio", `${r.duration_s.toFixed(2)} s at ${r.sample_rate} Hz`],
  ];
  $("timings").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", {}, v)]));
}

// The chips and the bars, synonyms grouped or not (the "Group synonyms" box).
export function renderTags(r) {
  const grouped = !$("group-box").hidden && $("group-synonyms").checked;
  renderDecisions(r, grouped);
  const rows = grouped ? groupTags(r.tags, state.groups) : r.tags.map((t) => ({ ...t, members: null }));
  $("bars").replaceChildren(...rows.map(bar));
  $("bars-hint").hidden = !r.tags.some((t) => typeof t.threshold === "number");
  $("group-hint").hidden = !rows.some((row) => row.members);
}

// One sentence for the numbers: what the headline (bars) averaged and heard, what the heatmap
// shows. E.g. "The tags are the mean of 16 chunks of 3.7 s (overlapping) covering the whole
// 29.1-s track; the heatmap shows 8 segments of 3.7 s, one every 3.7 s."
export function coverage(r) {
  const heard = typeof r.heard_s === "number" ? r.heard_s : r.duration_s;
  const track = `${r.duration_s.toFixed(1)}-s track`;
  const whole = heard >= r.duration_s - 0.05;
  const overlap = r.n_chunks * r.chunk_s > heard + 0.05 ? " (overlapping)" : "";
  const chunks = r.n_chunks === 1 ? "1 chunk" : `${r.n_chunks} chunks`;
  let text = `The tags are the mean of ${chunks} of ${secs(r.chunk_s)}${overlap} covering ` +
    (whole ? `the whole ${track}` : `${secs(heard)} of the ${track} ` +
      `(${Math.round((100 * heard) / r.duration_s)} %: the rest was not heard)`);
  const segments = r.segments || [];
  if (segments.length) {
    const len = segments[0].end_s - segments[0].start_s;
    const hop = segments.length > 1 ? segments[1].start_s - segments[0].start_s : len;
    text += `; the heatmap shows ${segments.length === 1 ? "1 segment" : `${segments.length} segments`}` +
      ` of ${secs(len)}` + (segments.length > 1 ? `, one every ${secs(hop)}` : "") +
      (segments.length > 1 && hop < len - 0.005 ? " (overlapping)" : "");
  }
  return `${text}.`;
}

// One tag's bar (or a group's: its maximum, members listed); with the decisions API a threshold
// mark (per-tag `threshold`) and, when decided (`present`), a highlight and a ✓.
function bar(t) {
  const threshold = typeof t.threshold === "number" ? t.threshold : null;
  const decided = t.present === true;
  const members = t.members
    ? `highest of ${t.members.map((m) => `${m.tag} ${fmt(m.probability)}`).join(", ")}` : null;
  const said = [`${t.tag}: probability ${fmt(t.probability)}`, members,
    threshold !== null ? `threshold ${fmt(threshold)}` : null,
    decided ? "decided" : t.present === false ? "not decided" : null].filter(Boolean).join(", ");
  return el("li", { class: decided ? "bar decided" : "bar", "data-tag": t.tag,
    "data-group": t.members ? t.members.map((m) => m.tag).join("|") : null,
    "data-present": t.present === undefined || t.present === null ? null : String(t.present),
    "aria-label": said },
    el("span", { class: "bar-tag", text: decided ? `✓ ${t.tag}` : t.tag }),
    el("span", { class: "bar-track", "aria-hidden": "true" },
      el("span", { class: "bar-fill", style: `width: ${(100 * t.probability).toFixed(1)}%` }),
      threshold !== null ? el("span", { class: "bar-threshold", "data-threshold": threshold,
        title: `threshold ${fmt(threshold)}`, style: `left: ${(100 * threshold).toFixed(1)}%` }) : null),
    el("span", { class: "bar-value", text: fmt(t.probability) }),
    members ? el("span", { class: "bar-members", "aria-hidden": "true", text: `max of: ` +
      t.members.map((m) => `${m.tag} ${fmt(m.probability)}`).join(" · ") }) : null);
}

// Above the bars: the decided tags (`labels`) as chips, or why nothing is decided.
function renderDecisions(r, grouped) {
  const labels = Array.isArray(r.labels) ? r.labels : null;
  const shown = labels && grouped ? groupLabels(labels, state.groups) : labels || [];
  $("labels").hidden = !labels || !labels.length;
  $("labels").replaceChildren(...shown.map((l) => el("li", { class: "chip", text: l })));
  const reason = r.decision && r.decision.reason;
  const why = !labels && reason ? `No tags decided: ${reason}`
    : labels && !labels.length ? "No tag reaches its threshold." : null;
  $("decision-reason").hidden = !why;
  $("decision-reason").textContent = why || "";
}
