"""The pages and assets over real HTTP (the browser itself: test_browser.py)."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from server import live_server

from rca.data import discover
from rca.settings import Settings

KEY = "web-read-key-0123"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("web"), api_keys=f"{KEY}:read", default_method="baro", retrain_cron=""
    )
    with live_server(settings) as url:
        yield url


@pytest.fixture(scope="module")
def analysis(base: str, sock_shop: Path) -> dict[str, Any]:
    case = discover(sock_shop / "catalogue-cpu" / "1")[0].load()
    frame = case.frame
    body = {
        "time": frame.index.tolist(),
        "series": {c: [None if v != v else v for v in frame[c].tolist()] for c in frame.columns},
        "inject_time": case.inject_time,
        "symptom": "catalogue_lat_90",
    }
    response = httpx.post(f"{base}/v1/analyses", json={"case": body}, headers=AUTH, timeout=120)
    assert response.status_code in (201, 202), response.text
    deadline = time.monotonic() + 300
    result: dict[str, Any] = response.json()
    while result["status"] not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(0.2)
        result = httpx.get(f"{base}/v1/analyses/{result['id']}", headers=AUTH).json()
    assert result["status"] == "done", result
    return result


def local_assets(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"#]+)"', html)


@pytest.mark.parametrize("path", ["/", "/incidents/abc", "/analyses/abc"])
def test_pages_load_only_local_assets_and_need_no_key(base: str, path: str) -> None:
    response = httpx.get(base + path)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assets = [a for a in local_assets(response.text) if a.startswith("/static/")]
    assert assets, "the page loads its scripts and stylesheet"
    assert not [a for a in local_assets(response.text) if a.startswith(("http:", "https:", "//"))]
    for asset in assets:
        assert httpx.get(base + asset).status_code == 200, asset


def test_the_key_field_never_sends_the_key_in_a_url(base: str) -> None:
    html = httpx.get(base + "/").text
    form = re.search(r'<form id="key-form"[^>]*>', html)
    assert form and 'method="post"' in form.group(0), "without script a GET form would put the key in the URL"
    assert 'type="password"' in html


def test_the_service_filter_is_a_get_form_prefilled_from_the_url(base: str) -> None:
    html = httpx.get(base + "/", params={"service": '"><script>x</script>'}).text
    form = re.search(r'<form class="filters" id="service-form"[^>]*>', html)
    assert form and 'method="get"' in form.group(0), "the filter is part of the page's URL"
    assert 'value="&#34;&gt;&lt;script&gt;x&lt;/script&gt;"' in html and "<script>x" not in html
    assert 'id="service-clear"' in html
    plain = httpx.get(base + "/").text
    assert 'value=""' in plain and 'id="service-clear"' not in plain


def test_swagger_ui_is_served_from_local_assets(base: str) -> None:
    html = httpx.get(base + "/docs").text
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in html and "/openapi.json" in html
    assert not re.search(r"https?://", html.replace("https://fastapi.tiangolo.com", "")), "nothing from a CDN"
    bundle = httpx.get(base + "/static/vendor/swagger-ui/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.content) > 1_000_000
    assert httpx.get(base + "/redoc").status_code == 404, "ReDoc would load from a CDN"
    assert "/" not in httpx.get(base + "/openapi.json").json()["paths"], "pages are not API operations"


def test_the_analysis_carries_charts_and_a_layered_graph(base: str, analysis: dict[str, Any]) -> None:
    graph = analysis["graph"]
    windows = graph["series"]
    assert windows[0]["symptom"] and windows[0]["id"] == "catalogue_lat_90"
    ranked = [w for w in windows if w["rank"] is not None]
    assert ranked and all(1 <= w["rank"] <= analysis["k"] for w in ranked)
    for window in windows:
        assert 10 <= len(window["time"]) == len(window["values"]) <= 150
        band = window["baseline"]
        assert band["low"] <= band["median"] <= band["high"]
        assert window["time"][0] < window["anomaly_time"] < window["time"][-1]
    assert all(n["layer"] is not None and n["service"] for n in graph["nodes"])
    assert {n["id"] for n in graph["services"]["nodes"]} == {n["service"] for n in graph["nodes"]}
    listed = httpx.get(f"{base}/v1/analyses", headers=AUTH).json()["items"]
    assert listed[0]["graph"] is None, "pages of analyses stay small: no graph, no series"


@pytest.mark.parametrize("view", ["series", "services"])
def test_graph_svg_views(base: str, analysis: dict[str, Any], view: str) -> None:
    response = httpx.get(f"{base}/v1/analyses/{analysis['id']}/graph.svg", params={"view": view}, headers=AUTH)
    assert response.status_code == 200 and response.headers["content-type"] == "image/svg+xml"
    nodes = re.findall(r'<g class="node[^"]*" data-id="([^"]+)"', response.text)
    expected = analysis["graph"]["services" if view == "services" else "nodes"]
    ids = {n["id"] for n in (expected["nodes"] if view == "services" else expected)}
    assert set(nodes) == ids
    assert 'data-rank="1"' in response.text and "anomaly score:" in response.text


def test_graph_svg_rejects_an_unknown_view(base: str, analysis: dict[str, Any]) -> None:
    response = httpx.get(f"{base}/v1/analyses/{analysis['id']}/graph.svg", params={"view": "x"}, headers=AUTH)
    assert response.status_code == 422 and "view" in response.json()["detail"]
