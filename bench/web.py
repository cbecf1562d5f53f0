"""The browser UI's speed: the list page with 1,000 stored analyses (all, and filtered by a service), and
the view of a 300-series case.

Reproduce (from the project root; needs Debian's chromium and chromium-driver, about 3 minutes on 2 cores)::

    .venv/bin/python bench/web.py [--analyses 1000] [--series 300] [--loads 20]

Steps: analyse sock-shop catalogue-cpu/1 (symptom catalogue_lat_90) with `run`, and a 300-series case
built from it (its 38 series plus time-shifted copies under other service names, so the layout has
a full graph of 40 nodes to place) with `run` at fewer training epochs (the page's work depends on
the size of the stored graph, not on how long the model trained); store 1,000 analyses of the first
(analysis i with its ranked services rotated by i, so each service leads a tenth of them and is among
the top three of 3 in 10) and as many incidents pointing at them, plus the 300-series analysis; time
the schema upgrade that fills the ranked services of a store written before them (version 2 -> 3,
1,000 analyses); start `rca serve` with an API key; then a headless Chromium (the system one, as in
tests/web) loads the list page ``--loads`` times, the list filtered by the first analysis' top service
(first page, and the 11th page of both lists: ``/?service=X&incidents=200&analyses=200``) as often,
and the 300-series analysis view as often. A load's time is from navigation start to the moment the
page's script has drawn everything (both lists; or the graph, the charts and the causes), as the page
itself reports it (``data-ready``). Switching the graph to series (a new SVG fetched and drawn) is
timed the same way. Results go to bench/results/web.json and the `web` block of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from selenium.webdriver.common.by import By

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "web"))
from browser import chromium, console_errors, wait_for
from report import RESULTS, ROOT, commit, machine, replace_block

from rca.analysis import AnalysisResult, Analyzer
from rca.api.client import ServeProcess
from rca.data import discover
from rca.data.case import Case, Telemetry
from rca.settings import Settings
from rca.store import schema
from rca.store.records import Records
from rca.store.store import Store

CASE = ROOT.parent / "shared" / "data" / "sock-shop-rcd" / "catalogue-cpu" / "1"
SYMPTOM = "catalogue_lat_90"
KEY = "bench-web-read-key"
K = 10


def document(result: AnalysisResult, analysis_id: str) -> dict[str, Any]:
    """The stored result, as the service writes it."""
    return result.document(K, svg_url=f"/v1/analyses/{analysis_id}/graph.svg")


def widened(case: Case, series: int) -> Case:
    """``case`` with copies of its series, each shifted by a few samples, under new service names."""
    frame = case.frame
    columns = {c: frame[c] for c in frame.columns}
    copy = 0
    while len(columns) < series:
        copy += 1
        for column in frame.columns:
            if len(columns) >= series:
                break
            service, metric = case.telemetry.series[column]
            columns[f"{service}{copy}_{metric}"] = frame[column].shift(copy).bfill()
    wide = pd.DataFrame(columns, index=frame.index)
    names = {c: (c.split("_", 1)[0], c.split("_", 1)[1]) for c in wide.columns}
    telemetry = Telemetry(frame=wide, series=names)
    return Case(name=f"{case.name} x{series}", telemetry=telemetry, inject_time=case.inject_time, symptom=SYMPTOM)


def rotated(result: dict[str, Any], by: int) -> dict[str, Any]:
    """``result`` with its ranked services rotated: rank ``r`` goes to the entries of rank ``r + by`` (mod k)."""
    ranks = sorted({item["rank"] for item in result["ranking"]})
    new_rank = {r: ranks.index(r) - by % len(ranks) for r in ranks}
    ranking = [{**item, "rank": new_rank[item["rank"]] % len(ranks) + 1} for item in result["ranking"]]
    return {**result, "ranking": sorted(ranking, key=lambda item: item["rank"])}


def store_all(data_dir: Path, base: AnalysisResult, wide: AnalysisResult, analyses: int) -> str:
    records = Records(Store(Settings(data_dir=data_dir).resolved_store_url))
    request = {"method": "run", "k": K, "source": "incident", "window": {"start": 0.0, "end": 1.0}}
    for i in range(analyses):
        record = records.create_analysis(request)
        records.update_analysis(record["id"], status="done", result=rotated(document(base, record["id"]), i))
        incident = records.open_incident(1.7e9 + 60 * i, {"onset": 1.7e9 + 60 * i, "symptoms": {SYMPTOM: 12.0}})
        records.update_incident(incident["id"], analysis_id=record["id"])
    record = records.create_analysis({**request, "source": "inline"})
    records.update_analysis(record["id"], status="done", result=document(wide, record["id"]))
    records.store.close()
    return str(record["id"])


def upgrade_seconds(data_dir: Path) -> float:
    """Seconds to open the store as one written before ``cause_services`` (schema 2): the upgrade fills it."""
    store = Store(Settings(data_dir=data_dir).resolved_store_url)
    with store.transaction() as conn:
        conn.execute(sa.update(schema.meta).values(value="2"))
        conn.exec_driver_sql("DROP TABLE cause_services")
    store.close()
    started = time.perf_counter()
    Store(store.url).close()
    return time.perf_counter() - started


def timed_loads(driver: Any, url: str, ready: tuple[str, str], loads: int) -> list[float]:
    times = []
    for _ in range(loads + 1):  # the first load warms the server's caches and the browser's
        driver.get(url)
        value = wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, ready[0]).get_attribute(ready[1]), 60)
        times.append(float(value))
    return times[1:]


TOGGLE = """
const done = arguments[arguments.length - 1];
const started = performance.now();
document.querySelector('.graph-tools button[data-view="series"]').click();
const check = () => document.querySelector('#graph svg text') &&
  document.querySelector('#graph svg text').textContent.endsWith(': series')
  ? done(performance.now() - started) : setTimeout(check, 5);
check();
"""


def stats(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": float(np.percentile(values, 50)),
        "p90_ms": float(np.percentile(values, 90)),
        "max_ms": float(max(values)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--analyses", type=int, default=1000)
    parser.add_argument("--series", type=int, default=300)
    parser.add_argument("--loads", type=int, default=20)
    args = parser.parse_args()

    case = discover(CASE)[0].load()
    case = dataclasses.replace(case, symptom=SYMPTOM)
    analyzer = Analyzer()
    started = time.perf_counter()
    base = analyzer.analyze(case, "run")
    base_seconds = time.perf_counter() - started
    started = time.perf_counter()
    wide = analyzer.analyze(widened(case, args.series), "run", params={"epochs": 20, "pretrain_epochs": 2})
    wide_seconds = time.perf_counter() - started
    print(f"analysed: {base_seconds:.0f} s (38 series), {wide_seconds:.0f} s ({args.series} series)", flush=True)

    with tempfile.TemporaryDirectory(prefix="rca-bench-web-") as tmp:
        data_dir = Path(tmp)
        wide_id = store_all(data_dir, base, wide, args.analyses)
        upgrade = upgrade_seconds(data_dir)
        top = base.document(K)["ranking"][0]["service"]
        env = {"RCA_DATA_DIR": str(data_dir), "RCA_API_KEYS": f"{KEY}:read", "RCA_RETRAIN_CRON": ""}
        with ServeProcess(log=data_dir / "serve.log", env=env) as server:
            url = server.base_url
            with chromium() as driver:
                driver.get(url + "/")
                driver.execute_script("sessionStorage.setItem('rca.apiKey', arguments[0])", KEY)
                console_errors(driver)  # the keyless first load's 401s: count only what follows
                listing = timed_loads(driver, url + "/", ("body", "data-ready"), args.loads)
                rows = len(driver.find_elements(By.CSS_SELECTOR, "#incidents tbody tr a.open"))
                filtered = timed_loads(driver, f"{url}/?service={top}", ("body", "data-ready"), args.loads)
                matches = [driver.find_element(By.ID, f"{w}-count").text.strip("()") for w in ("incidents", "analyses")]
                deep = f"{url}/?service={top}&incidents=200&analyses=200"
                filtered_deep = timed_loads(driver, deep, ("body", "data-ready"), args.loads)
                deep_rows = len(driver.find_elements(By.CSS_SELECTOR, "#analyses tbody tr a.open"))
                view = timed_loads(driver, f"{url}/analyses/{wide_id}", ("#main", "data-ready"), args.loads)
                nodes = len(driver.find_elements(By.CSS_SELECTOR, "#graph g.node"))
                charts = len(driver.find_elements(By.CSS_SELECTOR, "#charts figure.chart"))
                toggles = []
                for _ in range(args.loads):
                    driver.get(f"{url}/analyses/{wide_id}")
                    wait_for(driver, lambda d: d.find_element(By.ID, "main").get_attribute("data-ready"), 60)
                    toggles.append(float(driver.execute_async_script(TOGGLE)))
                series_nodes = len(driver.find_elements(By.CSS_SELECTOR, "#graph g.node"))
                errors = console_errors(driver)

    wide_graph = wide.graph_view(K)
    result = {
        "commit": commit(),
        "machine": machine(),
        "analyses": args.analyses,
        "incidents": args.analyses,
        "series": args.series,
        "loads": args.loads,
        "list_page": {**stats(listing), "rows": rows},
        "list_filtered": {**stats(filtered), "service": top, "incidents": int(matches[0]), "analyses": int(matches[1])},
        "list_filtered_page_11": {**stats(filtered_deep), "rows": deep_rows},
        "upgrade_to_schema_3_s": upgrade,
        "view_300": {**stats(view), "service_nodes": nodes, "charts": charts},
        "toggle_to_series": {**stats(toggles), "series_nodes": series_nodes, "edges": len(wide_graph.edges)},
        "console_errors": len(errors),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "web.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    rows_md = [
        f"| list page (`/`), {args.analyses} analyses and {args.analyses} incidents stored | "
        f"{result['list_page']['p50_ms']:.0f} | {result['list_page']['p90_ms']:.0f} | "
        f"{result['list_page']['max_ms']:.0f} | < 1000 ms |",
        f"| list page filtered by a service (`/?service={top}`: {matches[0]} incidents, {matches[1]} analyses) | "
        f"{result['list_filtered']['p50_ms']:.0f} | {result['list_filtered']['p90_ms']:.0f} | "
        f"{result['list_filtered']['max_ms']:.0f} | < 1000 ms |",
        f"| the same, 11th page of both lists (`&incidents=200&analyses=200`) | "
        f"{result['list_filtered_page_11']['p50_ms']:.0f} | {result['list_filtered_page_11']['p90_ms']:.0f} | "
        f"{result['list_filtered_page_11']['max_ms']:.0f} | < 1000 ms |",
        f"| analysis view, {args.series}-series case ({nodes} service nodes, {charts} charts) | "
        f"{result['view_300']['p50_ms']:.0f} | {result['view_300']['p90_ms']:.0f} | "
        f"{result['view_300']['max_ms']:.0f} | responsive |",
        f"| graph: services -> series ({series_nodes} nodes, {len(wide_graph.edges)} edges) | "
        f"{result['toggle_to_series']['p50_ms']:.0f} | {result['toggle_to_series']['p90_ms']:.0f} | "
        f"{result['toggle_to_series']['max_ms']:.0f} | responsive |",
    ]
    replace_block(
        "web",
        f"""## Web UI
Measured on {machine()}, commit {commit()}, server and headless Chromium (Debian's) on the same machine.
Reproduce: `.venv/bin/python bench/web.py --analyses {args.analyses} --series {args.series} --loads {args.loads}`.

Time from navigation start until the page's script has drawn everything (as the page reports it),
over {args.loads} loads after one warm-up; console errors: {len(errors)}. Opening this store as one written
before the ranked services were kept (schema 2 -> 3: fills them from the {args.analyses} stored results):
{upgrade:.2f} s.

| page | p50 ms | p90 ms | max ms | target |
|---|---|---|---|---|
{chr(10).join(rows_md)}
""",
    )


if __name__ == "__main__":
    main()
