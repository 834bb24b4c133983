// What every part of the page of `pixelar serve` shares: its state, messages, and the query
// of a request to the app's /api endpoints (see pixelar/web/app.py). Loaded first.
"use strict";

const $ = (id) => document.getElementById(id);

// The page's state: the models served and the limits (from /api/info), the model chosen, the
// sampling stream running (its AbortController), the URL of the last .pxz file, the index of the
// last test image asked for, the test image loading into the canvas (null when none), and the
// last OOD scores (from /api/ood; null when none).
const state = {
  models: [], limits: {}, model: null, sampling: null, pxzUrl: null, exampleIndex: -1, loading: null, ood: null,
};

// -- messages ------------------------------------------------------------------------------

function showError(section, message) {
  const box = $(section + "-error");
  box.textContent = message;
  box.hidden = false;
}

function clearError(section) {
  const box = $(section + "-error");
  box.textContent = "";
  box.hidden = true;
}

function setStatus(id, text) {
  $(id).textContent = text;
}

function sizeText(bytes) {
  if (bytes >= 1048576) return `${+(bytes / 1048576).toFixed(2)} MiB`;
  if (bytes >= 1024) return `${+(bytes / 1024).toFixed(2)} KiB`;
  return `${bytes} bytes`;
}

// The error of a failed response: the app's one-line JSON message, or the status.
async function responseError(resp) {
  try {
    const body = await resp.json();
    if (body && body.error) return body.error;
  } catch (e) { /* not JSON */ }
  return `the server answered ${resp.status} ${resp.statusText}`;
}

function networkError(e) {
  return `the server could not be reached (${e.message}); is pixelar serve still running?`;
}

// -- requests ------------------------------------------------------------------------------

// The query string of a request: the chosen model and the `params` that are set.
function query(params) {
  const q = new URLSearchParams();
  if (state.model) q.set("model", state.model.name);
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") q.set(key, value);
  }
  return q.toString();
}

// The class chosen, for a class-conditional model (null for an unconditional one).
function label() {
  return state.model && state.model.num_classes ? $("label").value : null;
}
