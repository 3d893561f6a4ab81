// The result out of the page: the API's answer as JSON (clipboard or file) and as CSV.
import { state } from "./api.js";

// The answer as the API gave it, plus the name of the file it describes.
const payload = () => ({ file: state.resultFile?.name ?? null, ...state.result });
export const resultJSON = () => JSON.stringify(payload(), null, 2);

const csvField = (v) => {
  const s = v === null || v === undefined ? "" : String(v);
  return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
};

// One row per tag: tag, probability, threshold, decided, then one column per segment
// ("0.00-3.69 s"), so the heatmap's numbers come along.
export function resultCSV() {
  const r = state.result;
  const segments = r.segments || [];
  const head = ["tag", "probability", "threshold", "decided",
    ...segments.map((s) => `${s.start_s.toFixed(2)}-${s.end_s.toFixed(2)} s`)];
  const rows = r.tags.map((t) => [t.tag, t.probability, t.threshold ?? "",
    t.present === undefined || t.present === null ? "" : t.present,
    ...segments.map((s) => s.probabilities[t.tag] ?? "")]);
  return [head, ...rows].map((row) => row.map(csvField).join(",")).join("\n") + "\n";
}

// "song.mp3" tagged by won_musicnn -> "song.won_musicnn.tags.csv"
function fileName(ext) {
  const stem = (state.resultFile?.name ?? "result").replace(/\.[^.]+$/, "");
  return `${stem}.${state.result.model}.tags.${ext}`;
}

export function download(ext) {
  const [text, type] = ext === "csv" ? [resultCSV(), "text/csv"] : [resultJSON(), "application/json"];
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = Object.assign(document.createElement("a"), { href: url, download: fileName(ext) });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
  return a.download;
}

export async function copyJSON() {
  await navigator.clipboard.writeText(resultJSON());
}
