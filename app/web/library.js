// "More like this": when the service has a library mounted (GET /library/status), each tagged
// file is also sent to POST /similar and its k nearest library tracks are listed under the
// result, with their decided labels and paths relative to the library's source folder.
// Self-contained (no imports, no globals of the page's other scripts): the page announces a
// result with document.dispatchEvent(new CustomEvent("tagger:result", { detail: { file } })).
"use strict";

(() => {
  const K = 5;
  const KEY = "tagger-api-key"; // the page keeps the user's API key there (this tab only)
  let status = null;
  let run = null;

  const $ = (id) => document.getElementById(id);
  const headers = () => {
    const key = sessionStorage.getItem(KEY);
    return { Accept: "application/json", ...(key ? { Authorization: `Bearer ${key}` } : {}) };
  };
  const fixed = (x, d) => (typeof x === "number" && isFinite(x) ? x.toFixed(d) : "–");
  const clock = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    node.append(...children);
    return node;
  }

  async function call(url, init = {}) {
    const response = await fetch(url, { ...init, headers: headers() });
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const detail = typeof body?.detail === "string" ? body.detail : response.statusText;
      throw new Error(`HTTP ${response.status}: ${detail}`);
    }
    return body;
  }

  function track(t) {
    const labels = t.labels && t.labels.length
      ? el("ul", { class: "chips", "aria-label": `Decided tags of ${t.path}` },
        ...t.labels.map((l) => el("li", { class: "chip", text: l })))
      : el("p", { class: "hint", text: t.labels ? "No tag decided" : "No decisions in this library" });
    const meta = `distance ${fixed(t.distance, 3)}` +
      (typeof t.duration_s === "number" ? ` · ${clock(t.duration_s)}` : "");
    return el("li", { class: "similar-track", "data-id": t.id },
      el("span", { class: "similar-path", text: t.path }),
      el("span", { class: "hint similar-meta", text: meta }),
      labels);
  }

  async function moreLikeThis(file) {
    const panel = $("more-like-this");
    if (!status?.mounted) status = await call("library/status").catch(() => null);
    if (!status?.mounted) { panel.hidden = true; return; }
    run?.abort();
    run = new AbortController();
    panel.hidden = false;
    $("similar-error").hidden = true;
    $("similar-list").replaceChildren();
    $("similar-intro").textContent = `The ${K} tracks of your library (${status.tracks} tracks, ` +
      `embedded by ${status.model}) that sound most like ${file.name}, nearest first.`;
    $("similar-status").textContent = `Looking for tracks like ${file.name} in the library…`;
    const form = new FormData();
    form.append("file", file, file.name);
    try {
      const body = await call(`similar?k=${K}`, { method: "POST", body: form, signal: run.signal });
      $("similar-list").replaceChildren(...body.tracks.map(track));
      $("similar-status").textContent = `${body.tracks.length} similar tracks found.`;
    } catch (err) {
      if (err?.name === "AbortError") return;
      $("similar-status").textContent = "";
      $("similar-error").replaceChildren(el("strong", { text: "No similar tracks" }),
        el("p", { text: err.message }));
      $("similar-error").hidden = false;
    }
  }

  document.addEventListener("tagger:result", (e) => moreLikeThis(e.detail.file));
})();
