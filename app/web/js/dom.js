// Small helpers shared by every part of the page: elements, number formats, the colour scale.

export const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

// el("p", { text: "hi", class: "x", onclick: f }, child...); "svg:rect" makes an SVG element.
export function el(tag, attrs = {}, ...children) {
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
  for (const c of children) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
}

export const fmt = (x, digits = 3) => (typeof x === "number" && isFinite(x) ? x.toFixed(digits) : "–");
export const ms = (x) => (typeof x === "number" ? `${x.toFixed(x < 10 ? 1 : 0)} ms` : "–");
export const seconds = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
export const mib = (bytes) => `${(bytes / 1048576).toFixed(1)} MiB`;
export const duration = (s) => (s >= 60 ? `${seconds(s)} min` : `${s.toFixed(s < 10 ? 1 : 0)} s`);
// Seconds with one decimal, or none where the value is whole (3 s, 3.7 s).
export const secs = (s) => `${Number(s.toFixed(1))} s`;

// "CPUExecutionProvider" -> "CPU": the short name shown, the full one in a title (a long word
// would break mid-word on a phone).
export function provider(name) {
  if (!name) return el("span", { text: "–" });
  return el("abbr", { title: name, text: name.replace(/ExecutionProvider$/, "") || name });
}

// Viridis (perceptually uniform, colour-blind safe), 9 stops, interpolated.
export const VIRIDIS = ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80",
  "#5ec962", "#addc30", "#fde725"];
const hex = (h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16));

// [r, g, b] (0-255) of a score t in [0, 1]; grey for a missing value.
export function rgb(t) {
  if (typeof t !== "number" || !isFinite(t)) return [229, 229, 229];
  const x = Math.min(Math.max(t, 0), 1) * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(x), VIRIDIS.length - 2);
  const a = hex(VIRIDIS[i]), b = hex(VIRIDIS[i + 1]), f = x - i;
  return a.map((v, k) => Math.round(v + (b[k] - v) * f));
}
export const colour = (t) => `rgb(${rgb(t).join(",")})`;

// WCAG relative luminance of [r, g, b].
function luminance(c) {
  const lin = c.map((v) => v / 255).map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
  return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
}

// Text colour for a cell: white or near-black, whichever contrasts more with the cell. The
// worse of the two is never below 4.58:1 (where both are equal), so any cell passes WCAG AA.
export function ink(t) {
  const l = luminance(rgb(t));
  const white = 1.05 / (l + 0.05), black = (l + 0.05) / (0.0056 + 0.05); // #111: L 0.0056
  return white >= black ? "#fff" : "#111";
}

export function legend(node, lo, hi, label) {
  node.replaceChildren(
    el("span", { text: `${label} ${lo}` }),
    el("span", { class: "ramp", "aria-hidden": "true",
      style: `background: linear-gradient(to right, ${VIRIDIS.join(",")})` }),
    el("span", { text: String(hi) }),
  );
}

// Scroll boxes (role="region", named) are in the tab order only while they scroll, so a keyboard
// can reach their hidden part and nothing else takes a needless tab stop.
export function markScrollable() {
  for (const box of document.querySelectorAll(".scroll-box")) {
    if (box.scrollWidth > box.clientWidth + 1) box.setAttribute("tabindex", "0");
    else box.removeAttribute("tabindex");
  }
}
