// The API as the page sees it: one shared state, JSON GETs with the key, readable errors.
import { $, el } from "./dom.js";

export const APP_TITLE = "MTAT music tagger";

// What the page knows: GET /models, GET /limits, the tag groups, the last result and its file.
export const state = {
  models: null, limits: null, groups: null, result: null, resultFile: null, file: null,
  fileUrl: null, objectUrl: null, run: null,
};

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
export function apiError(status, body, fallback) {
  const detail = body && typeof body.detail === "string" ? body.detail : fallback;
  const tooLong = status === 413 && typeof body?.max_duration_s === "number";
  const title = tooLong ? "Too long" : STATUS_TITLES[status] || (status ? `HTTP ${status}` : "No answer");
  return { title: status ? `${title} (HTTP ${status})` : title, detail };
}

export function showError(node, err) {
  node.replaceChildren(el("strong", { text: err.title }), el("p", { text: err.detail }));
  node.hidden = false;
}

// With TAGGER_API_KEYS set the API answers 401: the page then asks for a key (kept for this tab
// only) and sends it as `Authorization: Bearer <key>`.
export const KEY = "tagger-api-key";
export function authHeaders() {
  const key = sessionStorage.getItem(KEY);
  return key ? { Authorization: `Bearer ${key}` } : {};
}
export function askForKey() {
  $("key-box").hidden = false;
  $("api-key").focus();
}

export async function getJSON(url) {
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

export async function loadModels() {
  if (!state.models) state.models = await getJSON("models");
  return state.models;
}

export async function loadLimits() {
  if (!state.limits) state.limits = await getJSON("limits");
  return state.limits;
}

// The synonym groups among the models' tags (GET tag-groups: tagging/synonyms.py, the one table).
export async function loadGroups() {
  if (!state.groups) state.groups = (await getJSON("tag-groups")).groups;
  return state.groups;
}

export const trainedOnText = (m) =>
  m.trained_on === "mtat" ? "real MTAT" : m.trained_on ? m.trained_on : "unknown";
