"""Pictures of a ranking's causal graph (SVG for the API, PNG for reports)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import networkx as nx


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
