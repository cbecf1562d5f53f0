"""Analyses over HTTP against a real uvicorn server: inline cases, paging, graphs, auth, bad input."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
from server import ADMIN_KEY, READ_KEY, finished_analysis

from rca.api.deps import PAGE_MAX_AGE_SECONDS
from rca.settings import Settings
from rca.store import Store
from rca.store.records import Records

READ = {"Authorization": f"Bearer {READ_KEY}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def post(base_url: str, body: dict[str, Any], headers: dict[str, str] = READ) -> httpx.Response:
    return httpx.post(f"{base_url}/v1/analyses", json=body, headers=headers, timeout=120)


def test_inline_analysis_finds_the_root_cause(base_url: str, sock_shop_payload: dict[str, Any]) -> None:
    response = post(base_url, {"case": sock_shop_payload, "method": "baro", "k": 5})
    body = finished_analysis(base_url, response, READ)
    assert response.headers["location"] == f"/v1/analyses/{body['id']}"
    assert body["status"] == "done" and body["method"] == "baro" and body["k"] == 5
    ranking = body["ranking"]
    assert sorted({r["rank"] for r in ranking}) == [1, 2, 3, 4, 5]  # k counts services
    assert len({r["service"] for r in ranking}) == 5
    assert ranking[0]["service"] == "carts" and ranking[0]["metric"] == "carts_cpu"
    assert ranking[0]["evidence"]["anomaly_score"] > 3 and ranking[0]["evidence"]["onset_time"] is not None
    assert body["graph"]["svg_url"] == f"/v1/analyses/{body['id']}/graph.svg"
    assert {"prepare", "rank"} <= set(body["timings"])

    again = httpx.get(f"{base_url}/v1/analyses/{body['id']}", headers=READ)
    assert again.status_code == 200 and again.json()["ranking"] == ranking
    svg = httpx.get(f"{base_url}{body['graph']['svg_url']}", headers=READ)
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content
    graph = httpx.get(f"{base_url}/v1/analyses/{body['id']}/graph", headers=READ).json()
    assert graph["nodes"][0]["id"] == "carts_cpu" and graph["nodes"][0]["root_cause_rank"] == 1


def test_analyses_page(base_url: str, sock_shop_payload: dict[str, Any]) -> None:
    for _ in range(3):
        finished_analysis(base_url, post(base_url, {"case": sock_shop_payload, "method": "nsigma", "k": 2}), READ)
    first = httpx.get(f"{base_url}/v1/analyses", params={"limit": 2}, headers=READ).json()
    assert first["limit"] == 2 and len(first["items"]) == 2 and first["total"] >= 3
    second = httpx.get(f"{base_url}/v1/analyses", params={"limit": 2, "offset": 2}, headers=READ).json()
    assert {i["id"] for i in first["items"]}.isdisjoint({i["id"] for i in second["items"]})
    created = [i["created_at"] for i in first["items"] + second["items"]]
    assert created == sorted(created, reverse=True)
    newest = finished_analysis(base_url, post(base_url, {"case": sock_shop_payload, "method": "baro", "k": 3}), READ)
    page = httpx.get(f"{base_url}/v1/analyses", params={"limit": 2}, headers=READ).json()
    assert page["items"][0]["id"] == newest["id"] and page["items"][0]["status"] == "done"
    assert page["items"][0]["ranking"] == newest["ranking"] and page["items"][0]["graph"] is None
    assert page["items"][1]["id"] == first["items"][0]["id"] and page["total"] == first["total"] + 1


def test_analyses_filtered_by_service_page_through_the_matches(
    base_url: str, sock_shop_payload: dict[str, Any]
) -> None:
    # a service name only this test's cases have: its analyses are the only matches in the shared store
    series = {c.replace("carts_", "basket_", 1): v for c, v in sock_shop_payload["series"].items()}
    renamed = {**sock_shop_payload, "series": series}
    made = [
        finished_analysis(base_url, post(base_url, {"case": renamed, "method": "nsigma", "k": 3}), READ)
        for _ in range(3)
    ]
    finished_analysis(base_url, post(base_url, {"case": sock_shop_payload, "method": "nsigma", "k": 3}), READ)
    assert all(m["ranking"][0]["service"] == "basket" for m in made)
    first = httpx.get(f"{base_url}/v1/analyses", params={"service": "basket", "limit": 2}, headers=READ).json()
    second = httpx.get(
        f"{base_url}/v1/analyses", params={"service": "basket", "limit": 2, "offset": 2}, headers=READ
    ).json()
    assert first["total"] == second["total"] == 3 and (len(first["items"]), len(second["items"])) == (2, 1)
    assert [i["id"] for i in first["items"] + second["items"]] == [m["id"] for m in reversed(made)]
    top_only = httpx.get(f"{base_url}/v1/analyses", params={"service": "basket", "max_rank": 1}, headers=READ).json()
    assert top_only["total"] == 3
    third = made[0]["ranking"][2]["service"]
    ranked = httpx.get(f"{base_url}/v1/analyses", params={"service": third, "limit": 200}, headers=READ).json()
    assert {m["id"] for m in made} <= {i["id"] for i in ranked["items"]}
    assert all(third in {r["service"] for r in i["ranking"][:3]} for i in ranked["items"])
    unknown = httpx.get(f"{base_url}/v1/analyses", params={"service": "no-such-service"}, headers=READ)
    assert unknown.status_code == 200 and unknown.json()["total"] == 0 and unknown.json()["items"] == []
    for bad in ({"service": "basket", "max_rank": 0}, {"service": "a\x00b"}, {"service": ""}):
        assert httpx.get(f"{base_url}/v1/analyses", params=bad, headers=READ).status_code == 422, bad
    spec = httpx.get(f"{base_url}/openapi.json").json()
    for path in ("/v1/analyses", "/v1/incidents"):
        parameters = {p["name"]: p for p in spec["paths"][path]["get"]["parameters"]}
        assert "ranked causes include this service" in parameters["service"]["description"]
        assert parameters["max_rank"]["schema"]["maximum"] == 100


def test_a_page_shows_analyses_recorded_by_another_process(settings: Settings, base_url: str) -> None:
    before = httpx.get(f"{base_url}/v1/analyses", params={"limit": 1}, headers=READ).json()
    other = Records(Store(settings.resolved_store_url))  # a second writer on the same store, as this test is
    recorded = other.create_analysis({"method": "baro", "k": 1, "source": "inline", "window": {}})
    deadline = time.monotonic() + PAGE_MAX_AGE_SECONDS + 5
    while True:
        page = httpx.get(f"{base_url}/v1/analyses", params={"limit": 1}, headers=READ).json()
        if page["items"][0]["id"] == recorded["id"] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert page["items"][0]["id"] == recorded["id"] and page["total"] == before["total"] + 1
    assert page["items"][0]["status"] == "pending"


def test_python_json_with_nan_is_accepted(base_url: str, sock_shop_payload: dict[str, Any]) -> None:
    column = next(iter(sock_shop_payload["series"]))
    values = [float("nan"), *sock_shop_payload["series"][column][1:]]
    body = {"case": {**sock_shop_payload, "series": {**sock_shop_payload["series"], column: values}}, "k": 2}
    content = json.dumps({**body, "method": "baro"}).encode()  # Python writes NaN, which is not JSON
    response = httpx.post(
        f"{base_url}/v1/analyses", content=content, headers={**READ, "content-type": "application/json"}, timeout=60
    )
    assert finished_analysis(base_url, response, READ)["status"] == "done"


def test_infinity_is_refused_naming_the_series_and_position(base_url: str, sock_shop_payload: dict[str, Any]) -> None:
    column = sorted(sock_shop_payload["series"])[3]
    values = list(sock_shop_payload["series"][column])
    values[7] = float("-inf")
    body = {"case": {**sock_shop_payload, "series": {**sock_shop_payload["series"], column: values}}}
    content = json.dumps(body).encode()  # Python writes -Infinity, which is not JSON either
    response = httpx.post(
        f"{base_url}/v1/analyses", content=content, headers={**READ, "content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert f"series '{column}' holds -Infinity at position 7" in detail and "null for a missing value" in detail


def test_auth(base_url: str, sock_shop_payload: dict[str, Any]) -> None:
    assert httpx.get(f"{base_url}/v1/analyses").status_code == 401
    wrong = httpx.get(f"{base_url}/v1/analyses", headers={"Authorization": "Bearer nope-nope-nope"})
    assert wrong.status_code == 401 and wrong.headers["content-type"] == "application/problem+json"
    assert wrong.headers["www-authenticate"] == "Bearer"
    forbidden = httpx.post(f"{base_url}/v1/models/retrain", headers=READ)
    assert forbidden.status_code == 403 and "admin" in forbidden.json()["detail"]
    assert httpx.post(f"{base_url}/v1/models/retrain", headers=ADMIN).status_code == 202
    assert httpx.get(f"{base_url}/healthz").status_code == 200  # health needs no key


def test_bad_input_is_a_clear_4xx(base_url: str, sock_shop_payload: dict[str, Any]) -> None:
    cases = [
        ({}, 422, "send either `case`"),
        ({"start": 10, "end": 5}, 422, "`end` must be after `start`"),
        ({"case": {**sock_shop_payload, "inject_time": 1}}, 422, "outside the data"),
        ({"case": {**sock_shop_payload, "series": {"a_b": [1, 2]}}}, 422, "case.series.a_b: has 2 values"),
        ({"case": sock_shop_payload, "method": "nope"}, 422, "unknown method 'nope'"),
        ({"case": sock_shop_payload, "k": 0}, 422, "k"),
        ({"start": 0, "end": 100}, 422, "no ingested data"),
        ({"start": 8.2e15, "end": 4.2e16}, 422, "less than or equal to 9223372036"),  # beyond what the store holds
    ]
    for body, status, text in cases:
        response = post(base_url, body)
        assert response.status_code == status, (body.keys(), response.text)
        problem = response.json()
        assert response.headers["content-type"] == "application/problem+json"
        assert problem["status"] == status and text in problem["detail"], problem
        assert "Traceback" not in response.text
    raw = httpx.post(
        f"{base_url}/v1/analyses",
        content=b'{"k": 2,\n "case": nope}',
        headers={**READ, "content-type": "application/json"},
    )
    assert raw.status_code == 422 and raw.json()["errors"][0]["field"] == "body", raw.text
    assert raw.json()["detail"].startswith(
        "body: malformed JSON at character 18 (line 2, column 10): Expecting value"
    ), raw.text
    missing = httpx.get(f"{base_url}/v1/analyses/does-not-exist", headers=READ)
    assert missing.status_code == 404 and "GET /v1/analyses" in missing.json()["detail"]


def test_request_size_limit(settings: Any, base_url: str) -> None:
    big = b"x" * (settings.max_request_bytes + 1)
    response = httpx.post(f"{base_url}/v1/analyses", content=big, headers={**READ, "content-type": "application/json"})
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"

    def chunks() -> Iterator[bytes]:  # no content-length: the limit must hold while the body streams in
        for _ in range(settings.max_request_bytes // 65536 + 2):
            yield b"x" * 65536

    streamed = httpx.post(
        f"{base_url}/v1/analyses", content=chunks(), headers={**READ, "content-type": "application/json"}
    )
    assert streamed.status_code == 413 and "at most" in streamed.json()["detail"]


def test_explanation_of_a_finished_analysis(base_url: str, sock_shop_payload: dict[str, Any]) -> None:
    analysis = finished_analysis(base_url, post(base_url, {"case": sock_shop_payload, "method": "baro"}), READ)
    response = httpx.post(f"{base_url}/v1/analyses/{analysis['id']}/explanation", headers=READ, timeout=60)
    assert response.status_code == 200, response.text
    explanation = response.json()
    assert explanation["source"] == "template"
    assert explanation["summary"].startswith("Root cause: carts")
    assert "carts_cpu" in explanation["summary"]
    missing = httpx.post(f"{base_url}/v1/analyses/nope/explanation", headers=READ)
    assert missing.status_code == 404
