// The list page: incidents and analyses, newest first, paged, filtered by the service involved.
"use strict";

const PAGE = 20;
// The page's state lives in its URL (?service=&incidents=&analyses=): a reload, a link or Back shows the same rows.
const state = { incidents: 0, analyses: 0, service: "" };
const loaded = { incidents: null, analyses: null };

function readUrl() {
  const query = new URLSearchParams(location.search);
  state.service = (query.get("service") || "").trim();
  for (const which of ["incidents", "analyses"]) {
    const offset = Number.parseInt(query.get(which) || "0", 10);
    state[which] = Number.isFinite(offset) && offset > 0 ? offset - (offset % PAGE) : 0;
  }
}

function writeUrl() {
  const query = new URLSearchParams();
  if (state.service) query.set("service", state.service);
  for (const which of ["incidents", "analyses"]) if (state[which]) query.set(which, String(state[which]));
  const search = query.toString();
  history.pushState(null, "", search ? "?" + search : location.pathname);
}

function statusBadge(status) {
  return el("span", { class: "status " + status }, status);
}

function incidentRow(incident) {
  const analysis = incident.analysis;
  const top = analysis && analysis.ranking ? analysis.ranking[0] : null;
  const symptoms = Object.entries(incident.symptoms || {}).sort((a, b) => b[1].detection_score - a[1].detection_score);
  return el(
    "tr",
    {},
    el("td", {}, el("a", { href: "/incidents/" + encodeURIComponent(incident.id), class: "open" }, utc(incident.onset))),
    el("td", {}, utc(incident.opened_at)),
    el("td", {}, statusBadge(incident.status)),
    el("td", {}, utc(incident.closed_at) || "-"),
    el("td", {}, symptoms.length ? symptoms[0][0] : ""),
    el("td", { class: "cause" }, cause(top) || "-"),
    el("td", {}, analysis ? statusBadge(analysis.status) : "none"),
  );
}

function analysisRow(analysis) {
  const top = analysis.ranking ? analysis.ranking[0] : null;
  const window_ = analysis.window || {};
  return el(
    "tr",
    {},
    el("td", {}, el("a", { href: "/analyses/" + encodeURIComponent(analysis.id), class: "open" }, utc(analysis.created_at))),
    el("td", {}, statusBadge(analysis.status)),
    el("td", {}, analysis.source),
    el("td", {}, analysis.method),
    el("td", { class: "cause" }, cause(top) || (analysis.error ? "failed: " + analysis.error : "-")),
    el("td", {}, window_.start ? `${utc(window_.start)} - ${utc(window_.end).slice(11)}` : ""),
  );
}

function render(which) {
  const page = loaded[which];
  if (!page) return;
  const rows = page.items;
  const body = document.querySelector(`#${which} tbody`);
  body.replaceChildren(...rows.map(which === "incidents" ? incidentRow : analysisRow));
  if (!rows.length) {
    const none = state.service ? `no ${which} rank ${state.service} among their top causes` : `no ${which} yet`;
    body.append(el("tr", {}, el("td", { colspan: which === "incidents" ? 7 : 6, class: "empty" }, page.total ? "no rows on this page" : none)));
  }
  document.getElementById(`${which}-count`).textContent = `(${page.total})`;
  const pager = document.querySelector(`.pager[data-for="${which}"]`);
  const last = Math.min(page.offset + PAGE, page.total);
  pager.querySelector("span").textContent = page.total ? `${page.offset + 1}-${last} of ${page.total}` : "";
  pager.querySelector('[data-step="-1"]').disabled = page.offset === 0;
  pager.querySelector('[data-step="1"]').disabled = last >= page.total;
}

async function load(which) {
  const path = which === "incidents" ? "/v1/incidents?embed=true&" : "/v1/analyses?";
  const filter = state.service ? "&service=" + encodeURIComponent(state.service) : "";
  try {
    loaded[which] = await apiJSON(`${path}limit=${PAGE}&offset=${state[which]}${filter}`);
    render(which);
    const analyses = loaded[which].items.map((item) => (which === "incidents" ? item.analysis : item));
    suggest(analyses.flatMap((analysis) => ((analysis && analysis.ranking) || []).map((cause) => cause.service)));
  } catch (error) {
    showError(error);
  }
}

// the filter's suggestions: services known from the stream, and those ranked on the pages shown
const suggested = new Set();
function suggest(names) {
  const options = document.getElementById("service-options");
  for (const name of [...new Set(names)].sort()) {
    if (!name || suggested.has(name)) continue;
    suggested.add(name);
    options.append(el("option", { value: name }));
  }
}

async function loadServices() {
  try {
    suggest((await apiJSON("/v1/services")).map((service) => service.service));
  } catch (error) {
    showError(error);
  }
}

document.querySelectorAll(".pager button").forEach((button) =>
  button.addEventListener("click", () => {
    const which = button.parentElement.dataset.for;
    state[which] = Math.max(0, state[which] + Number(button.dataset.step) * PAGE);
    writeUrl();
    load(which);
  }),
);
window.addEventListener("popstate", () => {
  readUrl();
  document.getElementById("service-filter").value = state.service;
  load("incidents");
  load("analyses");
});
readUrl();
setUpWindowForm(null);
// data-ready: milliseconds from navigation start until both lists are drawn (tests and bench/web.py wait for it)
Promise.all([load("incidents"), load("analyses"), loadServices()]).then(() =>
  document.body.setAttribute("data-ready", String(Math.round(performance.now()))),
);
