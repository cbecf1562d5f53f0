"""The UI in a real headless Chromium, on an incident the service found itself in a real replay.

A Kafka broker, ``rca serve --ingest`` with an API key, a sock-shop fault replayed through Kafka; then
the browser: the key typed into the key field, the list, keyboard-only to the incident, its graph and
charts drawn, the explanation, Swagger UI from local assets, and no console error anywhere. The
screenshots land under ``out/screenshots`` (or ``$RCA_SCREENSHOTS``); the test prints the path.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser import chromium, console_errors, wait_for
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from kafka_broker import KafkaBroker
from server import finished_analysis

from rca.api.client import ServeProcess
from rca.data import discover
from rca.explain.evidence import format_number
from rca.ingest.replay import replay
from rca.settings import IngestSettings

ROOT = Path(__file__).resolve().parents[2]
KEY = "browser-read-key-42"
TOPICS = {"RCA_METRICS_TOPIC": "web_metrics", "RCA_SPANS_TOPIC": "web_spans", "RCA_JSONL_TOPIC": "web_jsonl"}


@pytest.fixture(scope="module")
def incident(sock_shop: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any]]]:
    """A served incident with a finished analysis: (base URL, incident)."""
    data_dir = tmp_path_factory.mktemp("web-serve")
    with KafkaBroker() as broker:
        env = {
            **TOPICS,
            "RCA_DATA_DIR": str(data_dir),
            "RCA_KAFKA_BOOTSTRAP": broker.bootstrap,
            "RCA_CONSUMER_GROUP": "rca-web-test",
            "RCA_SPAN_BUCKET_SECONDS": "1",
            "RCA_DETECTOR_OPEN_AFTER": "10",
            "RCA_DETECTOR_CLOSE_AFTER": "30",
            "RCA_BASELINE_SECONDS": "240",
            "RCA_RETRAIN_CRON": "",
            "RCA_API_KEYS": f"{KEY}:read",
        }
        with ServeProcess(log=data_dir / "serve.log", env=env, ingest=True) as server:
            base = server.base_url
            settings = IngestSettings(
                bootstrap=broker.bootstrap,
                metrics_topic=TOPICS["RCA_METRICS_TOPIC"],
                spans_topic=TOPICS["RCA_SPANS_TOPIC"],
                jsonl_topic=TOPICS["RCA_JSONL_TOPIC"],
            )
            replay(sock_shop / "catalogue-cpu" / "1", broker.bootstrap, speed=50, now=True, settings=settings, limit=1)
            headers = {"Authorization": f"Bearer {KEY}"}
            deadline = time.monotonic() + 600
            found: dict[str, Any] | None = None
            while found is None and time.monotonic() < deadline:
                page = httpx.get(f"{base}/v1/incidents", params={"embed": True}, headers=headers, timeout=10).json()
                finished = [i for i in page["items"] if i["analysis"] and i["analysis"]["status"] in ("done", "failed")]
                found = finished[0] if finished else None
                time.sleep(0.5)
            assert found is not None, "no analysed incident: " + server.output_tail()
            assert found["analysis"]["status"] == "done", found["analysis"]
            yield base, found


@pytest.fixture(scope="module")
def shots() -> Path:
    folder = Path(os.environ.get("RCA_SCREENSHOTS", ROOT / "out" / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {folder}")
    return folder


def full_page(driver: WebDriver, path: Path) -> None:
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1440, max(1000, int(height)))
    driver.save_screenshot(str(path))
    driver.set_window_size(1440, 1000)


def tab_to(driver: WebDriver, css: str, limit: int = 60) -> None:
    """Press Tab until the focused element matches ``css``."""
    for _ in range(limit):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        if driver.execute_script("return document.activeElement.matches(arguments[0])", css):
            return
    raise AssertionError(f"Tab never reached {css}")


@pytest.mark.kafka
def test_incident_page_in_a_real_browser(incident: tuple[str, dict[str, Any]], shots: Path) -> None:
    base, found = incident
    with chromium() as driver:
        # the list asks for the key; typed into the key field it is kept for the tab, never in a URL
        driver.get(base + "/")
        wait_for(driver, lambda d: d.find_element(By.ID, "alert").is_displayed())
        assert "401" in driver.find_element(By.ID, "alert").text
        console_errors(driver)  # the 401s just checked are expected: start counting after them
        driver.find_element(By.ID, "key-input").send_keys(KEY, Keys.ENTER)  # the page reloads with the key
        wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#incidents tbody a.open"))
        wait_for(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
        assert KEY not in driver.current_url
        assert driver.execute_script("return sessionStorage.getItem('rca.apiKey')") == KEY
        rows = driver.find_elements(By.CSS_SELECTOR, "#incidents tbody tr")
        assert len(rows) == 1 and "catalogue" in rows[0].text
        assert driver.find_elements(By.CSS_SELECTOR, "#analyses tbody tr a.open")
        driver.save_screenshot(str(shots / "list.png"))
        assert console_errors(driver) == []

        # keyboard only: Tab to the incident, Enter opens it
        tab_to(driver, 'a.open[href^="/incidents/"]')
        ActionChains(driver).send_keys(Keys.ENTER).perform()
        wait_for(driver, lambda d: d.find_element(By.ID, "main").get_attribute("data-ready"), timeout=60)
        assert driver.current_url == f"{base}/incidents/{found['id']}"
        summary = driver.find_element(By.ID, "summary").text
        assert "Most likely root cause: catalogue" in summary
        assert "(data time)" in summary and "(the service's wall clock)" in summary  # each time says its clock
        # one number per series: the page shows the analysis' robust z, as the API and the explanation do
        top_cause = found["analysis"]["ranking"][0]
        robust_z = f"robust z {format_number(top_cause['evidence']['robust_z'])}"
        first_evidence = driver.find_element(By.CSS_SELECTOR, '#causes li[data-rank="1"] ul.evidence li.robust-z')
        assert robust_z in first_evidence.text
        symptoms = {s: v["robust_z"] for s, v in found["symptoms"].items() if v["robust_z"] is not None}
        for series, z in symptoms.items():
            assert f"{series} (robust z {format_number(z)}, detection score" in summary

        # the graph: layered services, the top cause marked, a legend
        graph = driver.find_element(By.CSS_SELECTOR, "#graph svg.causal-graph")
        nodes = graph.find_elements(By.CSS_SELECTOR, "g.node")
        assert len(nodes) >= 3
        top = graph.find_element(By.CSS_SELECTOR, 'g.node[data-rank="1"]')
        assert top.get_attribute("data-service") == "catalogue" and top.is_displayed()
        assert graph.find_elements(By.CSS_SELECTOR, "g.node.symptom")
        assert "anomaly score:" in graph.text and "call graph" in graph.text
        # the charts: the symptom and the top causes, each with its band and the anomaly time
        charts = driver.find_elements(By.CSS_SELECTOR, "#charts figure.chart")
        assert len(charts) >= 2 and "symptom" in charts[0].text
        for chart in charts:
            assert chart.find_elements(By.CSS_SELECTOR, "polyline.values")
            assert chart.find_elements(By.CSS_SELECTOR, "line.anomaly")
            assert chart.find_elements(By.CSS_SELECTOR, "rect.band")
        assert driver.find_elements(By.CSS_SELECTOR, '#causes li[data-rank="1"] ul.evidence li')
        driver.set_window_size(1280, 1150)
        driver.save_screenshot(str(shots / "incident-top.png"))  # the README's picture
        full_page(driver, shots / "incident.png")

        # keyboard only: a service node expands into its series
        tab_to(driver, "g.node")
        service = driver.execute_script("return document.activeElement.dataset.service")
        ActionChains(driver).send_keys(Keys.ENTER).perform()
        wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#graph g.node.focus"))
        focused = driver.find_elements(By.CSS_SELECTOR, "#graph g.node.focus")
        assert {f.get_attribute("data-service") for f in focused} == {service}
        assert driver.find_elements(By.CSS_SELECTOR, "#graph path.edge.on-path"), "the evidence path is drawn"
        driver.set_window_size(1440, int(driver.execute_script("return document.documentElement.scrollHeight")))
        driver.find_element(By.ID, "graph").screenshot(str(shots / "graph-series.png"))
        driver.set_window_size(1440, 1000)

        # the explanation, with its source
        driver.find_element(By.ID, "explain").click()
        badge = wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#explanation .badge"), timeout=60)
        assert badge[0].text == "source: template"
        assert f"{robust_z})" in driver.find_element(By.ID, "explanation").text
        assert console_errors(driver) == []

        # Swagger UI, every resource from this server
        driver.get(base + "/docs")
        wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock"))
        loaded = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert loaded and all(url.startswith(base) for url in loaded), loaded
        driver.save_screenshot(str(shots / "docs.png"))
        assert console_errors(driver) == []


SHELF = 23
"""Analyses of a service only this test's cases have: more than one page of 20."""


@pytest.fixture(scope="module")
def shelf(incident: tuple[str, dict[str, Any]], sock_shop: Path) -> list[str]:
    """The ids of ``SHELF`` inline analyses whose causes include ``shelf`` (catalogue renamed), oldest first."""
    base, _ = incident
    case = discover(sock_shop / "catalogue-cpu" / "1")[0].load()
    frame = case.frame
    series = {c.replace("catalogue_", "shelf_", 1): [None if v != v else v for v in frame[c]] for c in frame.columns}
    body = {"case": {"time": frame.index.tolist(), "series": series, "inject_time": case.inject_time}}
    headers = {"Authorization": f"Bearer {KEY}"}
    ids = []
    for _ in range(SHELF):
        response = httpx.post(
            f"{base}/v1/analyses", json={**body, "method": "nsigma", "k": 3}, headers=headers, timeout=120
        )
        ids.append(finished_analysis(base, response, headers)["id"])
    return ids


@pytest.mark.kafka
def test_the_list_filters_by_service_across_pages(
    incident: tuple[str, dict[str, Any]], shelf: list[str], shots: Path
) -> None:
    base, _ = incident

    def analyses_shown(d: WebDriver) -> list[str]:
        links = d.find_elements(By.CSS_SELECTOR, "#analyses tbody a.open")
        return [str(a.get_attribute("href")).rsplit("/", 1)[1] for a in links]

    def pager(d: WebDriver) -> str:
        return str(d.find_element(By.CSS_SELECTOR, '.pager[data-for="analyses"] span').text)

    with chromium() as driver:
        driver.get(base + "/")
        driver.execute_script("sessionStorage.setItem('rca.apiKey', arguments[0])", KEY)
        driver.get(base + "/")
        wait_for(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
        console_errors(driver)  # the keyless first load's 401s: count only what follows

        # keyboard only: Tab to the filter, type the service, Enter; the filter goes into the URL
        tab_to(driver, "#service-filter")
        ActionChains(driver).send_keys("shelf", Keys.ENTER).perform()
        wait_for(driver, lambda d: d.current_url.endswith("/?service=shelf"))
        wait_for(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
        assert driver.find_element(By.ID, "analyses-count").text == f"({SHELF})"
        assert driver.find_element(By.ID, "incidents-count").text == "(0)"
        assert "no incidents rank shelf" in driver.find_element(By.CSS_SELECTOR, "#incidents tbody").text
        first = analyses_shown(driver)
        assert first == shelf[::-1][:20] and pager(driver) == f"1-20 of {SHELF}"
        driver.save_screenshot(str(shots / "list-filtered.png"))

        # the next page keeps the filter (the server filters; this is not the first page's rows filtered)
        tab_to(driver, '.pager[data-for="analyses"] button[data-step="1"]')
        ActionChains(driver).send_keys(Keys.ENTER).perform()
        wait_for(driver, lambda d: pager(d) == f"21-{SHELF} of {SHELF}")
        assert analyses_shown(driver) == shelf[::-1][20:]
        assert "service=shelf" in driver.current_url and "analyses=20" in driver.current_url
        # a reload shows the same page, Back the one before
        driver.refresh()
        wait_for(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
        assert pager(driver) == f"21-{SHELF} of {SHELF}" and analyses_shown(driver) == shelf[::-1][20:]
        assert driver.find_element(By.ID, "service-filter").get_attribute("value") == "shelf"
        driver.back()
        wait_for(driver, lambda d: pager(d) == f"1-20 of {SHELF}")
        assert analyses_shown(driver) == first
        # clearing the filter lists everything again
        driver.find_element(By.ID, "service-clear").click()
        wait_for(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
        assert driver.current_url == base + "/"
        assert int(driver.find_element(By.ID, "analyses-count").text.strip("()")) > SHELF
        assert driver.find_element(By.ID, "incidents-count").text == "(1)"
        assert console_errors(driver) == []
