// The list page: incidents and analyses, newest first, paged, filtered by the service involved.
"use strict";

const PAGE = 20;
const state = { incidents: 0, analyses: 0, service: "" };
const loaded = { incidents: null, analyses: null };

function involves(ranking, extra, service) {
  if (!service) return true;
  return (ranking || []).some((item) => item.service === service) || extra.includes(service);
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
  const rows = page.items.filter((item) =>
    which === "incidents"
      ? involves(item.analysis && item.analysis.ranking, Object.keys(item.symptoms || {}).map((s) => s.split("_")[0]), state.service)
      : involves(item.ranking, [], state.service),
  );
  const body = document.querySelector(`#${which} tbody`);
  body.replaceChildren(...rows.map(which === "incidents" ? incidentRow : analysisRow));
  if (!rows.length) {
    body.append(el("tr", {}, el("td", { colspan: which === "incidents" ? 7 : 6, class: "empty" }, page.total ? "no row on this page involves that service" : `no ${which} yet`)));
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
  try {
    loaded[which] = await apiJSON(`${path}limit=${PAGE}&offset=${state[which]}`);
    render(which);
  } catch (error) {
    showError(error);
  }
}

async function loadServices() {
  try {
    const services = await apiJSON("/v1/services");
    const select = document.getElementById("service-filter");
    for (const service of services) select.append(el("option", { value: service.service }, service.service));
  } catch (error) {
    showError(error);
  }
}

document.querySelectorAll(".pager button").forEach((button) =>
  button.addEventListener("click", () => {
    const which = button.parentElement.dataset.for;
    state[which] = Math.max(0, state[which] + Number(button.dataset.step) * PAGE);
    load(which);
  }),
);
document.getElementById("service-filter").addEventListener("change", (event) => {
  state.service = event.target.value;
  render("incidents");
  render("analyses");
});
setUpWindowForm(null);
// data-ready: milliseconds from navigation start until both lists are drawn (tests and bench/web.py wait for it)
Promise.all([load("incidents"), load("analyses"), loadServices()]).then(() =>
  document.body.setAttribute("data-ready", String(Math.round(performance.now()))),
);
