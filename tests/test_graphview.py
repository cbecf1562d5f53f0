"""The layered causal graph: layers by hops to the symptom, ordering, the service view, the SVG."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from rca.graphview import by_service, layer_order, layered, symptom_layers
from rca.plots import render_graph


def node(id_: str, service: str, score: float, rank: int | None = None) -> dict[str, object]:
    return {"id": id_, "service": service, "score": score, "anomaly_score": score, "root_cause_rank": rank}


def edge(source: str, target: str, *kinds: str) -> dict[str, object]:
    return {"source": source, "target": target, "weight": 1.0, "kinds": list(kinds)}


NODES = [
    node("front_lat", "front", 9.0),
    node("cat_lat", "cat", 8.0, 2),
    node("cat_cpu", "cat", 30.0, 1),
    node("db_cpu", "db", 2.0, 3),
    node("user_mem", "user", 0.1),
]
EDGES = [
    edge("cat_lat", "front_lat", "call"),
    edge("cat_cpu", "cat_lat", "service"),
    edge("db_cpu", "cat_lat", "learned"),
    edge("db_cpu", "cat_cpu", "learned", "call"),
]


def test_layers_count_hops_to_the_symptom_and_unlinked_nodes_go_last() -> None:
    layers = symptom_layers([n["id"] for n in NODES], [(e["source"], e["target"]) for e in EDGES], "front_lat")
    assert layers == {"front_lat": 0, "cat_lat": 1, "cat_cpu": 2, "db_cpu": 2, "user_mem": 3}


def test_without_a_symptom_every_node_shares_one_layer() -> None:
    assert set(symptom_layers(["a", "b"], [("a", "b")], None).values()) == {0}


def test_order_follows_the_effects_then_the_rank() -> None:
    layers = {"s": 0, "a": 1, "b": 1, "x": 2, "y": 2}
    edges = [("a", "s"), ("b", "s"), ("x", "b"), ("y", "a")]
    order = layer_order(layers, edges, {"a": 2.0, "b": 1.0})
    assert order["b"] < order["a"]  # the better rank first
    assert order["x"] < order["y"]  # x points at b, which sits above a: no crossing


def test_layered_marks_the_top_cause_path() -> None:
    graph = layered(NODES, EDGES, "front_lat", ["cat_cpu", "cat_lat", "front_lat"])
    on_path = {(e["source"], e["target"]) for e in graph["edges"] if e["on_path"]}
    assert on_path == {("cat_cpu", "cat_lat"), ("cat_lat", "front_lat")}


def test_service_view_merges_series_and_drops_edges_within_a_service() -> None:
    services = by_service(NODES, EDGES, "front_lat", ["cat_cpu", "cat_lat", "front_lat"])
    by_id = {n["id"]: n for n in services["nodes"]}
    assert by_id["cat"]["root_cause_rank"] == 1 and by_id["cat"]["anomaly_score"] == 30.0
    assert sorted(by_id["cat"]["series"]) == ["cat_cpu", "cat_lat"]
    links = {(e["source"], e["target"]): e for e in services["edges"]}
    assert set(links) == {("cat", "front"), ("db", "cat")}
    assert links[("db", "cat")]["kinds"] == ["call", "learned"]
    assert links[("cat", "front")]["on_path"] and services["symptom"] == "front"
    assert by_id["front"]["layer"] == 0 and by_id["cat"]["layer"] == 1 and by_id["db"]["layer"] == 2


def boxes(svg: bytes) -> dict[str, tuple[float, float, float, float]]:
    root = ET.fromstring(svg)
    out = {}
    for group in root.iter("{http://www.w3.org/2000/svg}g"):
        rect = next(r for r in group.iter("{http://www.w3.org/2000/svg}rect") if r.get("fill") != "none")
        out[group.get("data-id", "")] = tuple(float(rect.get(k, 0)) for k in ("x", "y", "width", "height"))
    return out


def test_svg_places_the_symptom_right_of_its_causes_without_overlaps_and_with_ranks_and_legend() -> None:
    svg = render_graph(layered(NODES, EDGES, "front_lat", ["cat_cpu", "cat_lat", "front_lat"]), title="t")
    placed = boxes(svg)
    assert placed["front_lat"][0] > placed["cat_lat"][0] > placed["cat_cpu"][0]
    items = list(placed.values())
    for i, (x1, y1, w1, h1) in enumerate(items):
        for x2, y2, w2, h2 in items[i + 1 :]:
            assert x1 + w1 <= x2 or x2 + w2 <= x1 or y1 + h1 <= y2 or y2 + h2 <= y1, "node boxes overlap"
    text = svg.decode()
    assert ">#1 cat_cpu<" in text and ">#3 db_cpu<" in text
    assert "anomaly score:" in text and "call graph" in text and "evidence path of #1" in text
    assert ">direct causes<" in text and ">no path to the symptom<" in text  # user_mem links to nothing
    assert len(re.findall(r'class="edge on-path"', text)) == 2
    width = float(ET.fromstring(svg).get("width", 0))
    assert all(x + w <= width for x, _, w, _ in items), "a label runs off the picture"


def test_svg_escapes_names_from_telemetry() -> None:
    hostile = '"><script>x()</script><g onload="y()'
    svg = render_graph(layered([node(hostile, "svc", 5.0, 1)], [], hostile, []))
    root = ET.fromstring(svg)  # still well-formed
    group = next(root.iter("{http://www.w3.org/2000/svg}g"))
    assert group.get("data-id") == hostile and group.get("onload") is None
    assert not list(root.iter("{http://www.w3.org/2000/svg}script"))
