"""Live incidents against the offline answer: every case through Kafka into `rca serve --ingest`.

For each case of the shared datasets: a fresh `rca serve --ingest` (its own data directory and topics,
one broker for all), the case replayed through the real broker as fast as it goes with timestamps
moved to now (as the demo does), then

(a) the service's incident detector opens the incident on its own and analyses the window it chose;
(b) the same data asked through ``POST /v1/analyses {start, end, anomaly_time}`` with the case's
    window and true fault time.

Both are compared with the offline answer (``rca eval``'s code path, :func:`rca.eval.runner.run_case`,
or an ``rca eval --json`` file given with ``--offline``): detection recall (an incident whose onset is
at or after the fault), onset error (detected onset minus fault time), incidents opened during the
normal part, AC@1/AC@3 of (a) and (b) beside offline, and how often the live top-5 services equal
offline's.

Why a fresh server per case: each case is its own recording (sock-shop runs days apart, Train Ticket
windows that overlap in time and drop rows near other faults), so one store across cases would
mix histories the offline evaluation never mixes, and the window of (b) would not hold the offline
case's rows. A fresh store makes (b) read exactly the offline case, so any difference is the service's
own doing; the cost is the server's start-up per case.

Reproduce (results in bench/results/live-<dataset>.json and the `live` block of docs/benchmarks.md)::

    KAFKA_LIB_DIR=.kafka/lib .venv/bin/python bench/live.py                  # every case
    KAFKA_LIB_DIR=.kafka/lib .venv/bin/python bench/live.py --dataset sock-shop-rcd --limit 5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from rca.runtime import passive_openmp  # noqa: E402

passive_openmp()  # before torch starts, as `rca` does in its processes

import httpx  # noqa: E402
from kafka_broker import KafkaBroker  # noqa: E402
from live_local import data_span, local_case, rank_of, services_of  # noqa: E402
from report import RESULTS, commit, machine, replace_block  # noqa: E402

from rca.anomaly.detector import IncidentDetector  # noqa: E402
from rca.anomaly.log_feed import LogChangeFeed, feed  # noqa: E402
from rca.api.client import ServeProcess  # noqa: E402
from rca.data.case import Case  # noqa: E402
from rca.data.datasets import CaseRef, discover  # noqa: E402
from rca.data.preprocess import preprocess  # noqa: E402
from rca.eval.runner import run_case  # noqa: E402
from rca.ingest.replay import case_step, replay  # noqa: E402
from rca.methods import get_method  # noqa: E402
from rca.settings import Settings  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
DATASETS = ("sock-shop-rcd", "nezha-train-ticket")
METHOD = "run"


def offline_records(path: Path | None, refs: list[CaseRef]) -> dict[str, dict[str, Any]]:
    """Offline per-case records: from an ``rca eval --json`` file, else computed as ``rca eval`` does."""
    if path is not None and path.exists():
        document = json.loads(path.read_text())
        result = next(r for r in document["results"] if r["method"] == METHOD)
        return {r["case"]: r for r in result["cases"]}
    out = {}
    for ref in refs:
        out[ref.name] = run_case(get_method(METHOD), preprocess(ref.load()))
        print(f"  offline {ref.name}: rank {out[ref.name]['rank']}", flush=True)
    return out


class Server(ServeProcess):
    """One `rca serve --ingest` with a fresh data directory and its own topics (removed when it stops)."""

    def __init__(self, bootstrap: str, case: Case, tag: str) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="rca-live-"))
        step = case_step(case)
        span = data_span(case, Settings().ingest.log_bucket_seconds)
        normal = case.inject_time - span[0]
        self.span = span
        env = {
            "PYTHONPATH": str(ROOT),
            "OMP_NUM_THREADS": "1",
            "RCA_DATA_DIR": str(self.data_dir),
            "RCA_KAFKA_BOOTSTRAP": bootstrap,
            "RCA_METRICS_TOPIC": f"live_{tag}_metrics",
            "RCA_SPANS_TOPIC": f"live_{tag}_spans",
            "RCA_JSONL_TOPIC": f"live_{tag}_jsonl",
            "RCA_LOGS_TOPIC": f"live_{tag}_logs",
            "RCA_LOGS_JSONL_TOPIC": f"live_{tag}_logs_jsonl",
            "RCA_CONSUMER_GROUP": f"rca-live-{tag}",
            "RCA_SPAN_BUCKET_SECONDS": str(step),
            "RCA_BASELINE_SECONDS": str(max(600.0, normal + step)),  # the whole retained history before it
            "RCA_RETRAIN_CRON": "",
            "RCA_API_KEYS": "",
            "RCA_DEFAULT_K": "5",
            "RCA_ANALYSIS_PROCESSES": "1",
            "RCA_SYNC_ANALYSIS_SECONDS": "60",
            "RCA_INCIDENT_QUIET_SECONDS": "5",  # the replay ends: analyse a waiting incident on what is in
        }
        super().__init__(log=self.data_dir / "serve.log", env=env, ingest=True, startup_timeout=300, stop_timeout=30)

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def live_case(source: Path, ref: CaseRef, bootstrap: str, tag: str, *, quiet_seconds: float) -> dict[str, Any]:
    """Replay one case into a fresh server; the detector's incident (a) and the window analysis (b)."""
    case = ref.load()
    truth = case.root_cause.service if case.root_cause else None
    with Server(bootstrap, case, tag) as server:
        settings = Settings().ingest.with_overrides(
            bootstrap=bootstrap,
            metrics_topic=server.env["RCA_METRICS_TOPIC"],
            spans_topic=server.env["RCA_SPANS_TOPIC"],
            jsonl_topic=server.env["RCA_JSONL_TOPIC"],
            logs_topic=server.env["RCA_LOGS_TOPIC"],
            logs_jsonl_topic=server.env["RCA_LOGS_JSONL_TOPIC"],
        )
        report = replay(source, bootstrap, speed=0, now=True, settings=settings, cases=[ref.name])
        offset = (report.offsets or {}).get(report.cases[0], 0.0)
        step = case_step(case)
        last = float(case.frame.index[-1]) + offset
        client = httpx.Client(base_url=server.base_url, timeout=120)
        # (a) wait until the data is in, then until the incident's analysis is done or nothing more happens
        incidents: list[dict[str, Any]] = []
        settled: float | None = None
        while True:
            incidents = client.get("/v1/incidents", params={"embed": True, "limit": 100}).json()["items"]
            newest = max((s["last_seen"] or 0.0 for s in client.get("/v1/services").json()), default=0.0)
            running = any(i["analysis"] and i["analysis"]["status"] in ("pending", "running") for i in incidents)
            waiting = any(i["analysis"] is None for i in incidents)
            if newest >= last - step:
                settled = settled or time.monotonic()
                quiet = time.monotonic() - settled
                if (incidents and not running and not waiting) or (quiet > quiet_seconds and not running):
                    break  # an analysis that runs is waited for: it always ends, done or failed
            time.sleep(0.5)
        fault = case.inject_time + offset
        incidents.sort(key=lambda i: i["opened_at"])
        onsets = [i["onset"] for i in incidents]
        false = sum(1 for t in onsets if t < fault - step / 2)
        hit = next((i for i in incidents if i["onset"] >= fault - step / 2), None)
        incident_analysis = (hit or {}).get("analysis") or {}
        detected_services = services_of(incident_analysis.get("ranking") or [])
        # (b) the same window at the true fault time
        window = {
            "start": server.span[0] + offset,
            "end": server.span[1] + offset,
            "anomaly_time": fault,
            "method": METHOD,
            "k": 5,
        }
        answer = client.post("/v1/analyses", json=window)
        analysis = answer.json()
        while analysis.get("status") in ("pending", "running"):
            time.sleep(0.5)
            analysis = client.get(f"/v1/analyses/{analysis['id']}").json()
        window_services = services_of(analysis.get("ranking") or [])
        return {
            "case": ref.name,
            "root_cause": truth,
            "incidents": len(incidents),
            "false_incidents": false,
            "detected": hit is not None,
            "onset_error": None if hit is None else hit["onset"] - fault,
            "incident_window": incident_analysis.get("window"),
            "incident_status": incident_analysis.get("status"),
            "incident_error": incident_analysis.get("error"),
            "incident_rank": rank_of(detected_services, truth),
            "incident_top5": detected_services[:5],
            "window_status": analysis.get("status"),
            "window_error": analysis.get("error") or analysis.get("detail"),
            "window_rank": rank_of(window_services, truth),
            "window_top5": window_services[:5],
        }


def detector_only(ref: CaseRef) -> dict[str, Any]:
    """The detector alone, fed the case's rows and log buckets in time order as the watcher feeds them
    (:func:`rca.anomaly.log_feed.feed`; no broker, no server)."""
    case = ref.load()
    settings = Settings()
    detector = IncidentDetector(
        threshold=settings.detector_threshold,
        open_after=settings.detector_open_after,
        close_after=settings.detector_close_after,
        score_threshold=settings.detector_log_threshold,
    )
    log_feed = LogChangeFeed(bucket_seconds=case_step(case))
    opened = [e for e in feed(detector, case.frame, case.telemetry.logs, log_feed) if e.kind == "opened"]
    step = case_step(case)
    hit = next((e for e in opened if e.onset >= case.inject_time - step / 2), None)
    return {
        "case": ref.name,
        "incidents": len(opened),
        "false_incidents": sum(1 for e in opened if e.onset < case.inject_time - step / 2),
        "detected": hit is not None,
        "onset_error": None if hit is None else hit.onset - case.inject_time,
        "opened_by": None if hit is None else max(hit.symptoms, key=hit.symptoms.__getitem__),
    }


def share(values: list[bool]) -> float:
    return round(sum(values) / len(values), 3) if values else float("nan")


def summarise(records: list[dict[str, Any]], offline: dict[str, dict[str, Any]]) -> dict[str, Any]:
    def ac(ranks: list[int | None], k: int) -> float:
        return share([r is not None and r <= k for r in ranks])

    errors = sorted(r["onset_error"] for r in records if r["onset_error"] is not None)
    off = [offline[r["case"]] for r in records]
    return {
        "cases": len(records),
        "recall": share([r["detected"] for r in records]),
        "onset_error_median": errors[len(errors) // 2] if errors else None,
        "onset_error_max": max(errors, key=abs) if errors else None,
        "false_incidents": sum(r["false_incidents"] for r in records),
        "offline_AC@1": ac([o["rank"] for o in off], 1),
        "offline_AC@3": ac([o["rank"] for o in off], 3),
        "incident_AC@1": ac([r["incident_rank"] for r in records], 1),
        "incident_AC@3": ac([r["incident_rank"] for r in records], 3),
        "holding_AC@1": ac([r.get("holding_rank", r["incident_rank"]) for r in records], 1),
        "window_AC@1": ac([r["window_rank"] for r in records], 1),
        "window_AC@3": ac([r["window_rank"] for r in records], 3),
        "incident_top5_equal": share([r["incident_top5"] == o["top5"][:5] for r, o in zip(records, off, strict=True)]),
        "window_top5_equal": share([r["window_top5"] == o["top5"][:5] for r, o in zip(records, off, strict=True)]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", action="append", choices=DATASETS, help="default: both")
    parser.add_argument("--limit", type=int, help="only the first N cases of each dataset")
    parser.add_argument("--case", action="append", help="only cases with these names")
    parser.add_argument("--offline", type=Path, action="append", help="`rca eval --json` file(s) of the method")
    parser.add_argument("--bootstrap", help="an existing broker (default: start one on free ports)")
    parser.add_argument("--quiet-seconds", type=float, default=15.0, help="wait this long for an incident")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    parser.add_argument(
        "--detector-only", action="store_true", help="only the detector over each case's rows (no broker, no server)"
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="no broker, no server: the replay's messages decoded into a store the service's watcher polls "
        "(bench/live_local.py); results in live-inprocess-<dataset>.json",
    )
    local = parser.add_argument_group("with --in-process")
    local.add_argument("--history", action="store_true", help="store each case's history first")
    local.add_argument("--no-analyses", action="store_true", help="detection only")
    local.add_argument(
        "--poll-seconds",
        type=float,
        default=10.0,
        help="data seconds between watcher polls (0: after every message time)",
    )
    local.add_argument("--report-only", action="store_true", help="only rewrite its docs table from the results")
    local.add_argument("--suffix", default="", help="results in live-inprocess-<dataset><suffix>.json")
    local.add_argument(
        "--offline-compute",
        action="store_true",
        help="compute the offline answer (run_case) instead of reading bench/results/accuracy-<dataset>.json",
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stopped: still stop the servers and the broker
    started = time.monotonic()
    if args.detector_only:
        for dataset in args.dataset or DATASETS:
            refs = [r for r in discover(SHARED / dataset) if not args.case or r.name in set(args.case)][: args.limit]
            records = [detector_only(ref) for ref in refs]
            for r in records:
                print(f"  {r['case']}: {r}", flush=True)
            errors = sorted(r["onset_error"] for r in records if r["onset_error"] is not None)
            summary = {
                "cases": len(records),
                "recall": share([r["detected"] for r in records]),
                "false_incidents": sum(r["false_incidents"] for r in records),
                "onset_error_median": errors[len(errors) // 2] if errors else None,
            }
            print(dataset, json.dumps(summary), flush=True)
            if not args.case and not args.limit:  # a subset's summary is not the dataset's
                RESULTS.mkdir(parents=True, exist_ok=True)
                path = RESULTS / f"live-detector-{dataset}.json"
                path.write_text(json.dumps({"summary": summary, "cases": records}))
        return
    if args.in_process:
        if args.report_only:
            write_inprocess_docs()
        else:
            in_process(args)
        return
    broker = None
    bootstrap = args.bootstrap
    if bootstrap is None:
        broker = KafkaBroker()
        bootstrap = broker.start()
    summaries: dict[str, dict[str, Any]] = {}
    per_dataset: dict[str, list[dict[str, Any]]] = {}
    try:
        for dataset in args.dataset or DATASETS:
            refs = discover(SHARED / dataset)
            if args.case:
                refs = [r for r in refs if r.name in set(args.case)]
            refs = refs[: args.limit] if args.limit else refs
            print(f"{dataset}: {len(refs)} cases", flush=True)
            offline_file = next((p for p in args.offline or [] if dataset.split("-")[0] in p.name), None)
            offline = offline_records(offline_file, refs)
            records = []
            for number, ref in enumerate(refs, start=1):
                tag = f"{int(time.time())}_{number}"
                t0 = time.monotonic()
                record = live_case(SHARED / dataset, ref, bootstrap, tag, quiet_seconds=args.quiet_seconds)
                records.append(record)
                print(
                    f"  [{number}/{len(refs)}] {ref.name}: incidents {record['incidents']} "
                    f"(false {record['false_incidents']}), onset error {record['onset_error']}, "
                    f"rank incident {record['incident_rank']} / window {record['window_rank']} / "
                    f"offline {offline[ref.name]['rank']} ({time.monotonic() - t0:.0f} s)",
                    flush=True,
                )
            for record in records:
                record["offline_rank"] = offline[record["case"]]["rank"]
                record["offline_top5"] = offline[record["case"]]["top5"][:5]
            summaries[dataset] = summarise(records, offline)
            per_dataset[dataset] = records
            RESULTS.mkdir(parents=True, exist_ok=True)
            (RESULTS / f"live-{dataset}.json").write_text(
                json.dumps({"summary": summaries[dataset], "cases": records, "offline": offline}, indent=1, default=str)
            )
            print(json.dumps(summaries[dataset], indent=1), flush=True)
    finally:
        if broker is not None:
            broker.close()
    if not args.no_docs:
        write_docs(per_dataset, args, time.monotonic() - started)


def in_process(args: argparse.Namespace) -> None:
    """``--in-process``: every case through :func:`live_local.local_case`; per-case lines and a summary.

    The offline answer is ``rca eval``'s per-case record in ``bench/results/accuracy-<dataset>.json``
    (``bench/accuracy.py``), else (missing, or ``--offline-compute``) computed here with ``run_case``.
    """
    for dataset in args.dataset or DATASETS:
        refs = discover(SHARED / dataset)
        refs = [r for r in refs if not args.case or r.name in set(args.case)][: args.limit]
        stored = RESULTS / f"accuracy-{dataset}.json"
        reference = {} if args.offline_compute or not stored.exists() else offline_records(stored, refs)
        records = []
        for ref in refs:
            started = time.process_time()
            case = ref.load()
            record = local_case(
                case, history=args.history, analyse=not args.no_analyses, poll_seconds=args.poll_seconds
            )
            record["cpu_seconds"] = round(time.process_time() - started, 1)
            if not args.no_analyses:
                offline = reference.get(ref.name) or run_case(get_method(METHOD), preprocess(case))
                record["offline_top5"] = offline["top5"][:5]
            records.append(record)
            print(f"  {json.dumps(record, default=str)}", flush=True)
        offline = {r["case"]: {"rank": rank_of(r.get("offline_top5", []), r["root_cause"]),
                               "top5": r.get("offline_top5", [])} for r in records}  # fmt: skip
        summary = summarise(records, offline)
        summary["false_in_history"] = sum(r["false_in_history"] for r in records)
        print(dataset, json.dumps(summary), flush=True)
        RESULTS.mkdir(parents=True, exist_ok=True)
        summary["load_average"] = round(os.getloadavg()[0], 1)
        cpu = sorted(r["cpu_seconds"] for r in records)
        summary["cpu_seconds_median"] = cpu[len(cpu) // 2] if cpu else None
        (RESULTS / f"live-inprocess-{dataset}{args.suffix}.json").write_text(
            json.dumps({"summary": summary, "cases": records}, indent=1, default=str)
        )
    if not args.no_docs and not args.suffix and not args.case and not args.limit:
        write_inprocess_docs()


def write_inprocess_docs() -> None:
    """The in-process table of the ``live`` block from ``bench/results/live-inprocess-<dataset>.json``."""
    columns = [
        "cases", "recall", "onset_error_median", "false_incidents", "offline_AC@1", "incident_AC@1",
        "holding_AC@1", "window_AC@1", "offline_AC@3", "incident_AC@3", "window_AC@3", "incident_top5_equal",
        "window_top5_equal", "cpu_seconds_median", "load_average",
    ]  # fmt: skip
    lines = ["| dataset | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for dataset in DATASETS:
        path = RESULTS / f"live-inprocess-{dataset}.json"
        if path.exists():
            summary = json.loads(path.read_text())["summary"]
            lines.append(f"| {dataset} | " + " | ".join(str(summary.get(c, "-")) for c in columns) + " |")
    replace_block("live-inprocess", "\n".join(lines))


def write_docs(records: dict[str, list[dict[str, Any]]], args: argparse.Namespace, seconds: float) -> None:
    """The broker run's summary per dataset (block ``live-broker``) beside the in-process results of the same
    cases, and the cases where a top 5 differs."""
    command = "KAFKA_LIB_DIR=.kafka/lib .venv/bin/python bench/live.py" + "".join(
        f" --dataset {d}" for d in args.dataset or []
    )
    command += f" --limit {args.limit}" if args.limit else ""
    command += "".join(f" --case {c}" for c in args.case or [])
    command += "".join(f" --offline {p}" for p in args.offline or [])
    lines = [
        f"Measured on {machine()}, commit {commit()}, load average {os.getloadavg()[0]:.1f}. Reproduce: "
        f"`{command}`; per-case results in `bench/results/live-<dataset>.json` ({seconds:.0f} s in all).",
        "",
        "| dataset | cases | recall | false incidents | incident AC@1 | window AC@1 | offline AC@1 "
        "| window top-5 = offline | window top-5 = in-process | incident top-5 = in-process |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    differing = []
    for dataset, rows in records.items():
        path = RESULTS / f"live-inprocess-{dataset}.json"
        local = {r["case"]: r for r in json.loads(path.read_text())["cases"]} if path.exists() else {}
        summary = summarise(rows, {r["case"]: {"rank": r["offline_rank"], "top5": r["offline_top5"]} for r in rows})
        same = {
            name: [r[f"{kind}_top5"] == local.get(r["case"], {}).get(f"{kind}_top5") for r in rows]
            for name, kind in (("window", "window"), ("incident", "incident"))
        }
        lines.append(
            f"| {dataset} | {summary['cases']} | {summary['recall']} | {summary['false_incidents']} "
            f"| {summary['incident_AC@1']} | {summary['window_AC@1']} | {summary['offline_AC@1']} "
            f"| {sum(r['window_top5'] == r['offline_top5'] for r in rows)} of {len(rows)} "
            f"| {sum(same['window'])} of {len(rows)} | {sum(same['incident'])} of {len(rows)} |"
        )
        for r, window_same, incident_same in zip(rows, same["window"], same["incident"], strict=True):
            if not (window_same and incident_same and r["window_top5"] == r["offline_top5"]):
                differing.append(
                    f"| {r['case']} | {r['incidents']} | {r['false_incidents']} | {r['onset_error']} "
                    f"| {r['incident_rank']} | {r['window_rank']} | {r['offline_rank']} | {incident_same} "
                    f"| {window_same} | {r['window_top5'] == r['offline_top5']} |"
                )
    if differing:
        lines += [
            "",
            "Cases where a top 5 differs:",
            "",
            "| case | incidents | false | onset error (s) | incident rank | window rank | offline rank "
            "| incident top-5 = in-process | window top-5 = in-process | window top-5 = offline |",
            "|---|---|---|---|---|---|---|---|---|---|",
            *differing,
        ]
    replace_block("live-broker", "\n".join(lines))


if __name__ == "__main__":
    main()
