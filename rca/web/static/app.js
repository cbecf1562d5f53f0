// Shared by every page: the API key (sessionStorage only, never in a URL), calls to the /v1 API,
// formatting, and the "analyse this window" form.
"use strict";

const KEY_STORAGE = "rca.apiKey";

function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

// fetch a /v1 path with the key as a bearer token; a problem document becomes an ApiError
async function api(path, options = {}) {
  const headers = Object.assign({ Accept: "application/json" }, options.headers || {});
  const key = apiKey();
  if (key) headers.Authorization = "Bearer " + key;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (!response.ok) {
    let detail = response.statusText;
    try {
      detail = (await response.json()).detail || detail;
    } catch (_) {
      // not JSON: keep the status text
    }
    if (response.status === 401 || response.status === 403) {
      document.getElementById("key-state").textContent = "the server needs a key: " + detail;
      document.getElementById("key-input").focus();
    }
    throw new ApiError(detail, response.status);
  }
  return response;
}

async function apiJSON(path, options) {
  return (await api(path, options)).json();
}

function showError(error) {
  const alert = document.getElementById("alert");
  alert.textContent = error instanceof ApiError ? `${error.message} (HTTP ${error.status})` : String(error);
  alert.hidden = false;
}

function clearError() {
  document.getElementById("alert").hidden = true;
}

// element helper: el("td", {class: "x"}, "text", child, ...)
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function utc(seconds) {
  if (seconds === null || seconds === undefined) return "";
  return new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 19);
}

// as the explanations write numbers (rca.explain.evidence.format_number): three significant digits,
// thousands separated, scientific outside [0.001, 1e7), so a score reads the same on the page and in the text
function number(value) {
  if (value === null || value === undefined) return "";
  if (typeof value !== "number") return String(value);
  if (!Number.isFinite(value)) return String(value);
  if (value === 0) return "0";
  const magnitude = Math.abs(value);
  if (magnitude < 1e-3 || magnitude >= 1e7) return value.toPrecision(3);
  const decimals = Math.max(0, 2 - Math.floor(Math.log10(magnitude)));
  return value.toLocaleString("en-US", { maximumFractionDigits: decimals });
}

function cause(item) {
  if (!item) return "";
  return item.metric ? `${item.service} (${item.metric})` : item.service;
}

// "2026-11-29 08:00:00" (UTC) or Unix seconds -> Unix seconds
function parseTime(text) {
  const value = text.trim();
  if (value === "") return null;
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value);
  const parsed = Date.parse(value.replace(" ", "T") + (/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? "" : "Z"));
  if (Number.isNaN(parsed)) throw new Error(`"${value}" is not a time: write 2026-11-29 08:00:00 (UTC) or Unix seconds`);
  return parsed / 1000;
}

function setUpKeyForm() {
  const form = document.getElementById("key-form");
  const input = document.getElementById("key-input");
  const state = document.getElementById("key-state");
  state.textContent = apiKey() ? "key set for this tab" : "";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (input.value) sessionStorage.setItem(KEY_STORAGE, input.value);
    input.value = "";
    location.reload();
  });
  document.getElementById("key-forget").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORAGE);
    location.reload();
  });
}

function setUpWindowForm(window_) {
  const form = document.getElementById("window-form");
  if (!form) return;
  if (window_) {
    form.start.value = utc(window_.start);
    form.end.value = utc(window_.end);
    form.anomaly_time.value = utc(window_.anomaly_time);
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError();
    try {
      const body = { start: parseTime(form.start.value), end: parseTime(form.end.value) };
      const anomaly = parseTime(form.anomaly_time.value);
      if (anomaly !== null) body.anomaly_time = anomaly;
      const analysis = await apiJSON("/v1/analyses", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      location.href = "/analyses/" + encodeURIComponent(analysis.id);
    } catch (error) {
      showError(error);
    }
  });
}

setUpKeyForm();
