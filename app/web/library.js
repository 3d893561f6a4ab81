// "More like this": when the service has a library mounted (GET /library answers 200), each
// tagged file is also sent to POST /similar and its k nearest library tracks are listed under
// the result, with their decided labels and paths relative to the library's source folder.
// Uses app.js's helpers ($, el, fmt, authHeaders, apiError, getJSON); app.js calls
// window.moreLikeThis(file) after a result.
"use strict";

const MORE = { library: null, k: 5, run: null };

async function loadLibrary() {
  try {
    MORE.library = await getJSON("library");
  } catch {
    MORE.library = null; // 404: no library mounted (or no key yet): no panel
  }
  return MORE.library;
}

function libraryTrack(t) {
  const labels = t.labels && t.labels.length
    ? el("ul", { class: "chips", "aria-label": "Decided tags" },
      ...t.labels.map((l) => el("li", { class: "chip", text: l })))
    : el("p", { class: "hint", text: t.labels ? "No tag decided" : "No decisions in this library" });
  const meta = `cosine distance ${fmt(t.distance)}` +
    (typeof t.duration_s === "number" ? ` · ${seconds(t.duration_s)}` : "");
  return el("li", { class: "similar-track", "data-id": t.id },
    el("span", { class: "similar-path", text: t.path }),
    el("span", { class: "hint similar-meta", text: meta }),
    labels);
}

async function postSimilar(file, signal) {
  const form = new FormData();
  form.append("file", file, file.name);
  const response = await fetch(`similar?k=${MORE.k}`, {
    method: "POST", body: form, signal,
    headers: { Accept: "application/json", ...authHeaders() },
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw apiError(response.status, body, response.statusText);
  return body;
}

async function moreLikeThis(file) {
  const panel = $("more-like-this");
  const lib = MORE.library || (await loadLibrary());
  if (!lib) { panel.hidden = true; return; }
  MORE.run?.abort();
  MORE.run = new AbortController();
  panel.hidden = false;
  $("similar-error").hidden = true;
  $("similar-list").replaceChildren();
  $("similar-status").textContent = `Looking for tracks like ${file.name} in the library…`;
  $("similar-intro").textContent = `The ${MORE.k} tracks of your library (${lib.ok} tracks, ` +
    `embedded by ${lib.model}) that sound most like ${file.name}, nearest first.`;
  try {
    const body = await postSimilar(file, MORE.run.signal);
    $("similar-list").replaceChildren(...body.tracks.map(libraryTrack));
    $("similar-status").textContent = `${body.tracks.length} similar tracks found.`;
  } catch (err) {
    if (err?.name === "AbortError") return;
    $("similar-status").textContent = "";
    showError($("similar-error"), err);
  }
}

window.moreLikeThis = moreLikeThis;
