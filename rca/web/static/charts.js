// Small line charts of a series around the anomaly: the baseline band (range before the anomaly,
// median dashed), the values, and the anomaly time as a red line. Plain SVG, no library.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

function svgEl(tag, attributes = {}, text = null) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== null) node.textContent = text;
  return node;
}

function relative(seconds) {
  const sign = seconds < 0 ? "-" : "+";
  const s = Math.abs(seconds);
  return sign + (s >= 120 ? `${Math.round(s / 60)} min` : `${Math.round(s)} s`);
}

// a tick label that fits 40 px: 15400000 -> 15.4M
function compact(value) {
  const trim = (text) => (text.includes(".") && !text.includes("e") ? text.replace(/0+$/, "").replace(/\.$/, "") : text);
  const size = Math.abs(value);
  for (const [limit, suffix] of [[1e9, "G"], [1e6, "M"], [1e3, "k"]]) {
    if (size >= limit) return trim((value / limit).toPrecision(3)) + suffix;
  }
  return trim(size >= 1 || size === 0 ? value.toPrecision(3) : value.toPrecision(2));
}

function seriesChart(series, { width = 340, height = 130 } = {}) {
  const pad = { left: 46, right: 8, top: 8, bottom: 20 };
  const finite = series.values.filter((v) => v !== null);
  const band = series.baseline;
  const lows = finite.concat(band ? [band.low, band.high] : []);
  let low = Math.min(...lows);
  let high = Math.max(...lows);
  if (!(high > low)) {
    low -= 1;
    high += 1;
  }
  const t0 = series.time[0];
  const t1 = series.time[series.time.length - 1];
  const span = t1 > t0 ? t1 - t0 : 1;
  const x = (t) => pad.left + ((t - t0) / span) * (width - pad.left - pad.right);
  const y = (v) => pad.top + (1 - (v - low) / (high - low)) * (height - pad.top - pad.bottom);
  const svg = svgEl("svg", { class: "chart-svg", width, height, viewBox: `0 0 ${width} ${height}`, role: "img" });
  svg.append(svgEl("title", {}, `${series.id}: values around the anomaly, with the baseline band`));
  if (band) {
    svg.append(
      svgEl("rect", { class: "band", x: pad.left, y: y(band.high), width: width - pad.left - pad.right, height: Math.max(1, y(band.low) - y(band.high)) }),
      svgEl("line", { class: "median", x1: pad.left, x2: width - pad.right, y1: y(band.median), y2: y(band.median) }),
    );
  }
  // a gap where values are missing: one polyline per run of values
  let run = [];
  const flush = () => {
    if (run.length) svg.append(svgEl("polyline", { class: "values", points: run.join(" ") }));
    run = [];
  };
  series.time.forEach((t, i) => {
    const v = series.values[i];
    if (v === null) flush();
    else run.push(`${x(t).toFixed(1)},${y(v).toFixed(1)}`);
  });
  flush();
  const ax = x(Math.min(Math.max(series.anomaly_time, t0), t1));
  svg.append(svgEl("line", { class: "anomaly", x1: ax, x2: ax, y1: pad.top, y2: height - pad.bottom }));
  svg.append(
    svgEl("text", { class: "tick", x: pad.left - 4, y: pad.top + 8, "text-anchor": "end" }, compact(high)),
    svgEl("text", { class: "tick", x: pad.left - 4, y: height - pad.bottom, "text-anchor": "end" }, compact(low)),
    svgEl("text", { class: "tick", x: pad.left, y: height - 4 }, relative(t0 - series.anomaly_time)),
    svgEl("text", { class: "tick", x: ax, y: height - 4, "text-anchor": "middle" }, "anomaly"),
  );
  if (width - pad.right - ax > 60) {  // room for the end's label beside "anomaly"
    svg.append(svgEl("text", { class: "tick", x: width - pad.right, y: height - 4, "text-anchor": "end" }, relative(t1 - series.anomaly_time)));
  }
  return svg;
}
