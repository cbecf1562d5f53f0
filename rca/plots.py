"""Pictures: the layered causal graph of an analysis (SVG), and series around an incident (PNG or SVG)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any
from xml.sax import saxutils

import pandas as pd

from rca.anomaly.scores import baseline_zscores
from rca.extras import require
from rca.graphview import EDGE_KINDS, SCORE_BINS, score_colour

NODE_HEIGHT = 26
ROW_GAP = 12
LAYER_GAP = 90
CHAR_WIDTH = 7.3
"""Width of one character of the 12 px monospace label font: labels are sized, never overlapping."""
EDGE_STYLE = {  # kind -> (colour, dash pattern)
    "call": ("#1f6fb4", "7 4"),
    "learned": ("#555555", ""),
    "service": ("#2a9d3a", "2 4"),
}
PATH_COLOUR = "#d62728"
LEGEND_WIDTH = 860.0


def escape(text: str) -> str:
    """``text`` safe in SVG text and in double- or single-quoted attributes (names come from telemetry)."""
    return saxutils.escape(text, {'"': "&quot;", "'": "&apos;"})


def _text_width(text: str) -> float:
    return CHAR_WIDTH * len(text)


def _node_label(node: Mapping[str, Any]) -> str:
    rank = node.get("root_cause_rank")
    return f"#{rank} {node['id']}" if rank is not None else str(node["id"])


def render_graph(graph: Mapping[str, Any], *, title: str = "") -> bytes:
    """Draw a layered causal graph (``nodes`` with ``layer``/``order``, as :mod:`rca.graphview` makes them)
    as SVG: the symptom on the right, each layer of causes one column further left, cause -> effect
    arrows, node fill by anomaly score, the top causes with their rank, the top cause's evidence path
    in red, edges styled by where they came from, and a legend.

    Every node is a ``<g class="node" data-id=... data-service=...>`` with a ``<title>``, so a page
    that inlines the SVG can make it interactive.
    """
    nodes = list(graph.get("nodes", []))
    symptom = graph.get("symptom")
    depth = max((int(n.get("layer") or 0) for n in nodes), default=0)
    columns: dict[int, list[Mapping[str, Any]]] = {}
    for node in nodes:
        columns.setdefault(int(node.get("layer") or 0), []).append(node)
    for members in columns.values():
        members.sort(key=lambda n: int(n.get("order") or 0))
    widths = {layer: max(_text_width(_node_label(n)) for n in members) + 20 for layer, members in columns.items()}
    tallest = max((len(m) for m in columns.values()), default=1)
    height = tallest * (NODE_HEIGHT + ROW_GAP)
    top = 74
    x = 20.0
    box: dict[str, tuple[float, float, float]] = {}  # id -> (left, centre y, width)
    headers = []
    steps = {(str(e["source"]), str(e["target"])) for e in graph.get("edges", [])}
    layer_of = {layer: {str(n["id"]) for n in members} for layer, members in columns.items()}
    for layer in range(depth, -1, -1):  # the deepest causes on the left, the symptom on the right
        members = columns.get(layer, [])
        offset = top + (height - len(members) * (NODE_HEIGHT + ROW_GAP)) / 2
        if members and symptom is not None:
            heading = "symptom" if layer == 0 else "direct causes" if layer == 1 else f"{layer} steps back"
            if layer and not any((n["id"], t) in steps for n in members for t in layer_of.get(layer - 1, ())):
                heading = "no path to the symptom"  # the layer beyond the deepest linked one
            headers.append(f'<text x="{x:.1f}" y="{top - 8}" fill="#777" font-style="italic">{heading}</text>')
        for i, node in enumerate(members):
            box[str(node["id"])] = (x, offset + i * (NODE_HEIGHT + ROW_GAP) + NODE_HEIGHT / 2, widths[layer])
        if members:
            x += widths[layer] + LAYER_GAP
    width = max(x - LAYER_GAP + 20, LEGEND_WIDTH)
    legend_top = top + height + 16
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="causal-graph" width="{width:.0f}" '
        f'height="{legend_top + 78:.0f}" viewBox="0 0 {width:.0f} {legend_top + 78:.0f}" '
        'font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="12">',
        "<defs>",
        *(
            f'<marker id="arrow-{kind}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="9" markerHeight="9" '
            f'markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="{colour}"/>'
            "</marker>"
            for kind, (colour, _) in {**EDGE_STYLE, "path": (PATH_COLOUR, "")}.items()
        ),
        "</defs>",
        f'<text x="20" y="22" font-size="14" font-weight="bold">{escape(title or "causal graph")}</text>',
        '<text x="20" y="40" fill="#555">causes on the left, the symptom on the right; arrows point cause -&gt; '
        "effect</text>",
    ]
    out += headers
    edges = sorted(graph.get("edges", []), key=lambda e: bool(e.get("on_path")))  # the path on top
    for edge in edges:
        if str(edge["source"]) not in box or str(edge["target"]) not in box:
            continue
        out.append(_edge(edge, box[str(edge["source"])], box[str(edge["target"])]))
    out += [_node(node, box[str(node["id"])], symptom=node["id"] == symptom) for node in nodes]
    out += _legend(legend_top)
    out.append("</svg>")
    return "\n".join(out).encode()


def _edge(edge: Mapping[str, Any], source: tuple[float, float, float], target: tuple[float, float, float]) -> str:
    kinds = [k for k in ("call", "learned", "service") if k in edge.get("kinds", [])]
    kind = "path" if edge.get("on_path") else (kinds[0] if kinds else "learned")
    colour, dash = (PATH_COLOUR, "") if kind == "path" else EDGE_STYLE[kind]
    x1, y1 = source[0] + source[2], source[1]
    x2, y2 = target[0], target[1]
    forward = x2 > x1
    if forward:  # towards the symptom: a smooth S from the right side to the left side
        bend = (x2 - x1) / 2
        d = f"M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} {x2 - bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
    else:  # within a layer or away from the symptom: a faint arc around the right of both
        x1, x2 = source[0] + source[2], target[0] + target[2]
        reach = 30 + abs(y2 - y1) / 5
        d = f"M{x1:.1f},{y1:.1f} C{x1 + reach:.1f},{y1:.1f} {x2 + reach:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
    stroke = 3.0 if kind == "path" else (0.8 + 1.6 * float(edge.get("weight", 0.5))) * (1 if forward else 0.6)
    opacity = 1.0 if kind == "path" else 0.6 if forward else 0.22
    dashes = f' stroke-dasharray="{dash}"' if dash else ""
    what = ", ".join(kinds) or "unlabelled"
    return (
        f'<path class="edge{" on-path" if kind == "path" else ""}" data-source="{escape(str(edge["source"]))}" '
        f'data-target="{escape(str(edge["target"]))}" d="{d}" fill="none" stroke="{colour}" '
        f'stroke-width="{stroke:.1f}" stroke-opacity="{opacity}"{dashes} marker-end="url(#arrow-{kind})">'
        f"<title>{escape(str(edge['source']))} -&gt; {escape(str(edge['target']))} ({what}, weight "
        f"{float(edge.get('weight', 0)):.2f})</title></path>"
    )


def _node(node: Mapping[str, Any], where: tuple[float, float, float], *, symptom: bool) -> str:
    left, centre, width = where
    score = node.get("anomaly_score")
    fill = score_colour(score)
    dark = fill in {b[1] for b in SCORE_BINS[3:]}
    rank = node.get("root_cause_rank")
    outline, line = ("#d62728", 3.0) if rank == 1 else ("#222", 1.6) if rank is not None else ("#888", 1.0)
    label = _node_label(node)
    series = node.get("series")
    hint = f"; series: {', '.join(series)}" if series else ""
    shown = "n/a" if score is None else f"{float(score):.3g}"
    parts = [
        f'<g class="node{" symptom" if symptom else ""}{" ranked" if rank is not None else ""}" '
        f'data-id="{escape(str(node["id"]))}" data-service="{escape(str(node.get("service") or node["id"]))}"'
        f'{f" data-rank={chr(34)}{rank}{chr(34)}" if rank is not None else ""} tabindex="0">',
        f"<title>{escape(str(node['id']))}: anomaly score {shown}"
        f"{f', rank {rank}' if rank is not None else ''}{', the symptom' if symptom else ''}{escape(hint)}</title>",
    ]
    if symptom:
        parts.append(
            f'<rect x="{left - 4:.1f}" y="{centre - NODE_HEIGHT / 2 - 4:.1f}" width="{width + 8:.1f}" '
            f'height="{NODE_HEIGHT + 8}" rx="9" fill="none" stroke="#7b2cbf" stroke-width="2"/>'
        )
    parts.append(
        f'<rect x="{left:.1f}" y="{centre - NODE_HEIGHT / 2:.1f}" width="{width:.1f}" height="{NODE_HEIGHT}" '
        f'rx="6" fill="{fill}" stroke="{outline}" stroke-width="{line}"/>'
    )
    weight = ' font-weight="bold"' if rank is not None else ""
    parts.append(
        f'<text x="{left + 10:.1f}" y="{centre + 4:.1f}" fill="{"#fff" if dark else "#111"}"{weight}>'
        f"{escape(label)}</text></g>"
    )
    return "".join(parts)


def _legend(y: float) -> list[str]:
    out = [f'<text x="20" y="{y + 12:.0f}" fill="#333">anomaly score:</text>']
    x = 135.0
    for _, fill, label in SCORE_BINS:
        out.append(f'<rect x="{x:.0f}" y="{y:.0f}" width="16" height="16" rx="3" fill="{fill}" stroke="#888"/>')
        out.append(f'<text x="{x + 20:.0f}" y="{y + 12:.0f}" fill="#333">{escape(label)}</text>')
        x += 32 + _text_width(label)
    y += 28
    out.append(f'<text x="20" y="{y + 12:.0f}" fill="#333">edges:</text>')
    x = 80.0
    for kind, (colour, dash) in EDGE_STYLE.items():
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<line x1="{x:.0f}" y1="{y + 8:.0f}" x2="{x + 34:.0f}" y2="{y + 8:.0f}" stroke="{colour}" '
            f'stroke-width="2"{dashes}/>'
        )
        out.append(f'<text x="{x + 40:.0f}" y="{y + 12:.0f}" fill="#333">{escape(EDGE_KINDS[kind])}</text>')
        x += 60 + _text_width(EDGE_KINDS[kind])
    out.append(
        f'<line x1="{x:.0f}" y1="{y + 8:.0f}" x2="{x + 34:.0f}" y2="{y + 8:.0f}" stroke="{PATH_COLOUR}" '
        'stroke-width="3"/>'
    )
    out.append(f'<text x="{x + 40:.0f}" y="{y + 12:.0f}" fill="#333">evidence path of #1</text>')
    y += 28
    out.append(
        f'<rect x="20" y="{y:.0f}" width="30" height="16" rx="4" fill="#fff" stroke="#d62728" stroke-width="3"/>'
        f'<text x="58" y="{y + 12:.0f}" fill="#333">#1 top cause (#n: rank)</text>'
        f'<rect x="270" y="{y - 2:.0f}" width="30" height="20" rx="6" fill="none" stroke="#7b2cbf" '
        f'stroke-width="2"/><text x="308" y="{y + 12:.0f}" fill="#333">the symptom</text>'
    )
    return out


def render_series(
    frame: pd.DataFrame,
    columns: Sequence[str],
    *,
    anomaly_time: float,
    title: str = "",
    fmt: str = "png",
) -> bytes:
    """Plot ``columns`` around the anomaly time, each scaled by its own baseline (robust z), one line each.

    Scaling by the pre-anomaly median and IQR (:func:`rca.anomaly.scores.baseline_zscores`) puts
    series of different units on one axis: what is shown is how far each moved from its normal, the
    quantity the ranking is built on. Needs matplotlib (the ``ml`` extra); :func:`render_graph` does not.
    """
    require("matplotlib", "render_series").use("Agg")  # no display: render to bytes
    plt = require("matplotlib.pyplot", "render_series")
    figure, axis = plt.subplots(figsize=(10, 4.5))
    index = frame.index.to_numpy(dtype=float)
    before = index < anomaly_time
    relative = index - anomaly_time
    values = frame[list(columns)].to_numpy(dtype=float)
    z = baseline_zscores(values[before], values)
    for j, column in enumerate(columns):
        axis.plot(relative, z[:, j], label=column, linewidth=1.2)
    axis.axvline(0.0, color="#d62728", linestyle="--", linewidth=1.2, label="anomaly time")
    axis.set_xlabel("seconds from the anomaly time")
    axis.set_ylabel("deviation from baseline (robust z)")
    axis.set_title(title or "series around the incident")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="upper left")
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, bbox_inches="tight", dpi=110)
    plt.close(figure)
    return buffer.getvalue()
