// The incident / analysis view: summary, layered causal graph (SVG drawn by the server), charts,
// ranked causes with their evidence, the explanation, and the "analyse this window" form.
"use strict";

const main = document.getElementById("main");
const POLL_MS = 1000;
let analysisId = null;
let graphView = "services";
let focusService = null;

// ---------------------------------------------------------------- evidence
function generic(value) {
  if (value === null || value === undefined) return "-";
  if (typeof value !== "object") return number(value);
  if (Array.isArray(value)) {
    if (value.every((v) => v === null || typeof v !== "object")) return value.map(number).join(", ");
    const keys = [...new Set(value.flatMap((v) => (v && typeof v === "object" ? Object.keys(v) : [])))];
    return el(
      "table",
      { class: "evidence-table" },
      el("thead", {}, el("tr", {}, keys.map((k) => el("th", {}, k)))),
      el("tbody", {}, value.slice(0, 20).map((row) => el("tr", {}, keys.map((k) => el("td", {}, generic(row && row[k])))))),
    );
  }
  return el("dl", { class: "evidence-dict" }, Object.entries(value).flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, generic(v))]));
}

function evidenceList(evidence, anomalyTime) {
  const items = [];
  const known = new Set(["robust_z", "anomaly_score", "onset_time", "path", "pagerank"]);
  if (evidence.robust_z !== undefined && evidence.robust_z !== null) {
    items.push(el("li", { class: "robust-z" }, el("b", {}, "how far: "), `robust z ${number(evidence.robust_z)}`, el("span", { class: "hint" }, " (its largest deviation after the anomaly time, in IQRs of its baseline; as the explanation says)")));
  }
  if (evidence.anomaly_score !== undefined) {
    items.push(el("li", {}, el("b", {}, "ranked on: "), `anomaly score ${number(evidence.anomaly_score)}`, el("span", { class: "hint" }, " (the method's own measure; for run, 1 = the largest swing of its own baseline)")));
  }
  if (evidence.onset_time !== undefined && evidence.onset_time !== null) {
    const after = anomalyTime ? ` (${relative(evidence.onset_time - anomalyTime)} from the anomaly time)` : "";
    items.push(el("li", {}, el("b", {}, "when: "), `first out of range at ${utc(evidence.onset_time)}${after}`));
  }
  if (Array.isArray(evidence.path) && evidence.path.length) {
    items.push(el("li", {}, el("b", {}, "path to the symptom: "), evidence.path.join(" → ")));
  }
  if (evidence.pagerank !== undefined) items.push(el("li", {}, el("b", {}, "PageRank: "), number(evidence.pagerank)));
  for (const [key, value] of Object.entries(evidence)) {
    if (!known.has(key)) items.push(el("li", {}, el("b", {}, key.replaceAll("_", " ") + ": "), generic(value)));
  }
  return el("ul", { class: "evidence" }, items);
}

function renderCauses(analysis) {
  // the ranking counts services: a service's strongest series share its rank and are listed beneath it
  const list = document.getElementById("causes");
  const anomalyTime = (analysis.window || {}).anomaly_time;
  const byRank = new Map();
  for (const item of analysis.ranking || []) byRank.set(item.rank, [...(byRank.get(item.rank) || []), item]);
  list.replaceChildren(
    ...[...byRank.entries()].map(([rank, items]) =>
      el(
        "li",
        { class: "cause-item", "data-rank": rank },
        el("div", { class: "cause-head" }, el("span", { class: "rank" }, "#" + rank), el("b", {}, items[0].service), el("span", { class: "score" }, ` score ${number(items[0].score)}`)),
        ...items.map((item) =>
          el(
            "div",
            { class: "cause-series" },
            item.metric ? el("div", { class: "series-head" }, el("b", {}, item.metric), el("span", { class: "score" }, ` score ${number(item.score)}`)) : null,
            evidenceList(item.evidence || {}, anomalyTime),
          ),
        ),
      ),
    ),
  );
}

// ---------------------------------------------------------------- graph
async function renderGraph() {
  const box = document.getElementById("graph");
  document.querySelectorAll(".graph-tools button").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.view === graphView)));
  const text = await (await api(`/v1/analyses/${encodeURIComponent(analysisId)}/graph.svg?view=${graphView}`, { headers: { Accept: "image/svg+xml" } })).text();
  const svg = document.importNode(new DOMParser().parseFromString(text, "image/svg+xml").documentElement, true);
  box.replaceChildren(svg);
  svg.querySelectorAll("g.node").forEach((node) => {
    if (focusService && graphView === "series" && node.dataset.service === focusService) node.classList.add("focus");
    const open = () => {
      if (graphView === "services") {
        focusService = node.dataset.service;
        graphView = "series";
        renderGraph().catch(showError);
      }
    };
    node.addEventListener("click", open);
    node.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        open();
      }
    });
  });
}

document.querySelectorAll(".graph-tools button").forEach((button) =>
  button.addEventListener("click", () => {
    graphView = button.dataset.view;
    focusService = null;
    renderGraph().catch(showError);
  }),
);

// ---------------------------------------------------------------- charts
function renderCharts(analysis) {
  const charts = document.getElementById("charts");
  const series = (analysis.graph && analysis.graph.series) || [];
  charts.replaceChildren(
    ...series.map((s) =>
      el("figure", { class: "chart" + (s.symptom ? " symptom" : "") }, seriesChart(s), el("figcaption", {}, s.symptom ? "symptom: " : "", s.rank ? `#${s.rank} ` : "", s.id)),
    ),
  );
  if (!series.length) charts.append(el("p", { class: "hint" }, "this analysis kept no series for charts"));
}

// ---------------------------------------------------------------- explanation
async function explain() {
  const box = document.getElementById("explanation");
  box.replaceChildren(el("p", { class: "hint" }, "asking ..."));
  try {
    const explanation = await apiJSON(`/v1/analyses/${encodeURIComponent(analysisId)}/explanation`, { method: "POST" });
    const source = explanation.source === "llm" ? `LLM (${explanation.llm_model || "configured model"})` : "template";
    const fallback = explanation.fallback_reason ? ` - fell back to the template: ${explanation.fallback_reason}` : "";
    box.replaceChildren(
      el("p", { class: "source" }, el("span", { class: "badge" }, "source: " + source), fallback),
      el("p", {}, explanation.summary),
      explanation.llm_note ? el("p", { class: "hint" }, "LLM note: " + explanation.llm_note) : null,
    );
  } catch (error) {
    box.replaceChildren(el("p", { class: "alert" }, error.message));
  }
}
document.getElementById("explain").addEventListener("click", explain);

// ---------------------------------------------------------------- summary and loading
function renderSummary(analysis, incident) {
  const top = analysis.ranking && analysis.ranking[0];
  const parts = [];
  if (incident) {
    const symptoms = Object.entries(incident.symptoms || {}).sort((a, b) => b[1].detection_score - a[1].detection_score);
    const robust = (v) => (v.robust_z === null || v.robust_z === undefined ? "" : `robust z ${number(v.robust_z)}, `);
    parts.push(
      el("p", {}, "Incident ", el("span", { class: "status " + incident.status }, incident.status), ` · onset ${utc(incident.onset)} UTC (data time)`),
      el("p", { class: "hint" }, `opened ${utc(incident.opened_at)} UTC`, incident.closed_at ? `, closed ${utc(incident.closed_at)} UTC` : "", " (the service's wall clock)"),
      el("p", { class: "symptoms" }, "Symptoms: ", symptoms.map(([s, v]) => `${s} (${robust(v)}detection score ${number(v.detection_score)})`).join(", ") || "-"),
    );
  }
  parts.push(el("p", {}, `Analysis ${analysis.id.slice(0, 8)}: `, el("span", { class: "status " + analysis.status }, analysis.status), ` · ${analysis.method} · ${analysis.source}`));
  if (top) parts.push(el("p", { class: "top-cause" }, "Most likely root cause: ", el("b", {}, cause(top))));
  if (analysis.error) parts.push(el("p", { class: "alert" }, analysis.error));
  document.getElementById("summary").replaceChildren(...parts);
}

async function load() {
  const kind = main.dataset.kind;
  const id = main.dataset.id;
  let incident = null;
  let analysis = null;
  for (;;) {
    if (kind === "incident") {
      incident = await apiJSON(`/v1/incidents/${encodeURIComponent(id)}`);
      analysis = incident.analysis;
      if (!analysis) {
        document.getElementById("summary").textContent = "this incident has no analysis yet";
        await new Promise((r) => setTimeout(r, POLL_MS));
        continue;
      }
    } else {
      analysis = await apiJSON(`/v1/analyses/${encodeURIComponent(id)}`);
    }
    renderSummary(analysis, incident);
    if (analysis.status === "done" || analysis.status === "failed") break;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  analysisId = analysis.id;
  setUpWindowForm(analysis.window);
  if (analysis.status !== "done") return;
  renderCauses(analysis);
  renderCharts(analysis);
  await renderGraph();
  main.setAttribute("data-ready", String(Math.round(performance.now()))); // ms from navigation start
}

load().catch(showError);
