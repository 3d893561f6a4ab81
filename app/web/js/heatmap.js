// The result over time: an SVG heatmap (one row per tag, one column per segment) under the
// player, and the same numbers as a table for screen readers and keyboards.
import { $, el, fmt, seconds, colour, legend, markScrollable } from "./dom.js";
import { state } from "./api.js";

const LABEL_W = 84, ROW_H = 18, AXIS_H = 18;

// Where a segment ends on the chart: the next one's start where they overlap.
const segmentEnd = (segments, i) =>
  i + 1 < segments.length ? Math.min(segments[i + 1].start_s, segments[i].end_s) : segments[i].end_s;

export function drawSegments(r) {
  const host = $("heatmap");
  const segments = r.segments || [];
  const tags = r.tags.map((t) => t.tag);
  const width = Math.max(host.clientWidth || 600, 280);
  const plotW = width - LABEL_W - 4;
  const total = r.duration_s || 1;
  const x = (s) => LABEL_W + (plotW * s) / total;
  const svg = el("svg:svg", {
    width, height: tags.length * ROW_H + AXIS_H, class: "segments", tabindex: "0", role: "img",
    "data-segments": segments.length,
    "aria-label": `Tag probabilities over ${segments.length} segments of the track (the table ` +
      "below has the numbers); arrow keys move the playback",
  });
  tags.forEach((tag, row) => {
    svg.append(el("svg:text", { x: LABEL_W - 6, y: row * ROW_H + ROW_H / 2, class: "row-label",
      "text-anchor": "end", "dominant-baseline": "central", text: tag }));
    segments.forEach((s, i) => {
      const end = segmentEnd(segments, i);
      const p = s.probabilities[tag];
      svg.append(el("svg:rect", { class: "cell", x: x(s.start_s), y: row * ROW_H,
        width: Math.max(x(end) - x(s.start_s), 1), height: ROW_H - 1, fill: colour(p),
        "data-segment": i, "data-tag": tag },
        el("svg:title", { text: `${tag} ${seconds(s.start_s)}–${seconds(end)}: ${fmt(p)}` })));
    });
  });
  const y = tags.length * ROW_H;
  for (const [t, anchor] of [[0, "start"], [total / 2, "middle"], [total, "end"]]) {
    svg.append(el("svg:text", { x: x(t), y: y + AXIS_H - 4, class: "axis", "text-anchor": anchor, text: seconds(t) }));
  }
  svg.append(el("svg:line", { id: "cursor", x1: x(0), x2: x(0), y1: 0, y2: y, class: "cursor" }));
  const seek = (t) => { $("player").currentTime = Math.min(Math.max(t, 0), total); moveCursor(); };
  svg.addEventListener("click", (e) => {
    const box = svg.getBoundingClientRect();
    seek(((e.clientX - box.left - LABEL_W) / plotW) * total);
  });
  svg.addEventListener("keydown", (e) => {
    const step = r.chunk_s || 1, now = $("player").currentTime;
    const to = { ArrowRight: now + step, ArrowLeft: now - step, Home: 0, End: total }[e.key];
    if (to !== undefined) { e.preventDefault(); seek(to); }
  });
  host.replaceChildren(svg);
  legend($("heatmap-legend"), 0, 1, "probability");
  segmentsTable(r, tags, segments);
  moveCursor();
}

// The heatmap's numbers: a row per tag (th), a column per segment named by its time span.
function segmentsTable(r, tags, segments) {
  const table = $("segments-table");
  $("segments-caption").textContent = `Probability of each tag (rows) in each of the ` +
    `${segments.length} segments (columns, start–end in minutes:seconds)`;
  table.tHead.replaceChildren(el("tr", {}, el("th", { scope: "col", text: "Tag" }),
    ...segments.map((s, i) => el("th", { scope: "col",
      text: `${seconds(s.start_s)}–${seconds(segmentEnd(segments, i))}` }))));
  table.tBodies[0].replaceChildren(...tags.map((tag) => el("tr", { "data-tag": tag },
    el("th", { scope: "row", text: tag }),
    ...segments.map((s) => el("td", { class: "num", text: fmt(s.probabilities[tag], 2) })))));
  markScrollable();
}

export function moveCursor() {
  const cursor = $("cursor"), r = state.result;
  if (!cursor || !r) return;
  const svg = cursor.ownerSVGElement;
  const plotW = Number(svg.getAttribute("width")) - LABEL_W - 4;
  const px = LABEL_W + (plotW * Math.min($("player").currentTime, r.duration_s)) / (r.duration_s || 1);
  cursor.setAttribute("x1", px);
  cursor.setAttribute("x2", px);
}

export function followPlayback() {
  moveCursor();
  if (!$("player").paused) requestAnimationFrame(followPlayback);
}
