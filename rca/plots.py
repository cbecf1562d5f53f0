"""Pictures: the causal graph of a ranking, and series around an incident (SVG or PNG)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import networkx as nx
import pandas as pd

from rca.anomaly.scores import baseline_zscores


def render_graph(
    nodes: Sequence[str],
    edges: Sequence[tuple[str, str, float]],
    *,
    scores: Mapping[str, float] | None = None,
    root_causes: Sequence[str] = (),
    title: str = "",
    fmt: str = "svg",
) -> bytes:
    """Draw a cause -> effect graph; node colour is the score, the top root causes are outlined in red.

    The layout is seeded, so the same graph gives the same picture.
    """
    graph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    graph.add_weighted_edges_from(edges)
    scores = scores or {}
    figure, axis = plt.subplots(figsize=(9, 6.5))
    if graph.number_of_nodes():
        layout = nx.spring_layout(graph, seed=7, k=1.6 / max(graph.number_of_nodes(), 1) ** 0.5)
        values = [scores.get(n, 0.0) for n in graph.nodes]
        widths = [0.5 + 2.5 * float(w) for _, _, w in graph.edges(data="weight", default=0.5)]
        nx.draw_networkx_edges(graph, layout, ax=axis, width=widths, alpha=0.5, arrowsize=14, edge_color="#555")
        nx.draw_networkx_nodes(
            graph,
            layout,
            ax=axis,
            node_color=values,
            cmap="OrRd",
            node_size=700,
            edgecolors=["#d62728" if n in root_causes else "#333" for n in graph.nodes],
            linewidths=[3.0 if n in root_causes else 0.8 for n in graph.nodes],
        )
        nx.draw_networkx_labels(graph, layout, ax=axis, font_size=7)
    axis.set_title(title or "causal graph (cause -> effect)")
    axis.axis("off")
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


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
    quantity the ranking is built on.
    """
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
