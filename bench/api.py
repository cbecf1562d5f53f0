"""API latency under 50 concurrent clients, with a fitted model, against a separate `rca serve` process.

Reproduce (from the project root, about 1 minute on 2 cores once hey is built; needs Go for the load
generator)::

    .venv/bin/python bench/api.py [--clients 50] [--analyses 600] [--reads 5000] [--method run]

Steps: fit the method on the normal part of sock-shop carts-cpu/1 (38 series, 9.6 minutes at 1 s) and
register it; start `rca serve` on a free port; then `hey` (github.com/rakyll/hey, a Go load generator,
built once into bench/.tools with `go install`) keeps 50 connections busy with inline analyses of that
case (201 expected; a 202 counts as slower than the synchronous budget), then with each read endpoint
in turn (`GET /v1/analyses/{id}`, `GET /v1/analyses?limit=20`, `GET /v1/services`, `GET /healthz`);
each phase follows a warm-up of 2 requests per client. Client and server share the same 2 cores.
Results go to bench/results/api.json and the `api` block of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import RESULTS, ROOT, commit, machine, replace_block

from rca.api.client import ServeProcess
from rca.data import discover
from rca.data.preprocess import preprocess
from rca.methods import get_method
from rca.registry.models import ModelRegistry

CASE = ROOT.parent / "shared" / "data" / "sock-shop-rcd" / "carts-cpu" / "1"
KEY = "bench-admin-key-0001"
HEY = "github.com/rakyll/hey@v0.1.4"
TOOLS = ROOT / "bench" / ".tools"


def hey_binary() -> Path:
    """The pinned hey binary, built with ``go install`` the first time."""
    binary = TOOLS / "hey"
    if not binary.exists():
        if shutil.which("go") is None:
            raise SystemExit(f"the load generator is built from {HEY} with Go: install Go (https://go.dev/dl/)")
        print(f"building {HEY} into {TOOLS} ...", file=sys.stderr)
        subprocess.run(["go", "install", HEY], check=True, env={**os.environ, "GOBIN": str(TOOLS)})
    return binary


def load(hey: Path, url: str, *, requests: int, clients: int, body: Path | None = None) -> dict[str, Any]:
    """Send ``requests`` from ``clients`` concurrent connections with hey; latency and status of each."""
    command = [str(hey), "-n", str(requests), "-c", str(clients), "-o", "csv", "-t", "120"]
    command += ["-H", f"Authorization: Bearer {KEY}"]
    if body is not None:
        command += ["-m", "POST", "-T", "application/json", "-D", str(body)]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rows = list(csv.DictReader(output.splitlines()))
    latencies = np.array([float(r["response-time"]) for r in rows])
    offsets = np.array([float(r["offset"]) for r in rows])
    statuses: dict[str, int] = {}
    for r in rows:
        statuses[r["status-code"]] = statuses.get(r["status-code"], 0) + 1
    wall = float((offsets + latencies).max() - offsets.min()) if len(rows) else float("nan")
    return {
        "requests": requests,
        "p50_ms": 1000 * float(np.percentile(latencies, 50)),
        "p99_ms": 1000 * float(np.percentile(latencies, 99)),
        "max_ms": 1000 * float(latencies.max()),
        "throughput_rps": len(rows) / wall,
        "statuses": dict(sorted(statuses.items())),
        "transport_errors": requests - len(rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--analyses", type=int, default=600)
    parser.add_argument("--reads", type=int, default=5000, help="requests per read endpoint")
    parser.add_argument("--method", default="run")
    args = parser.parse_args()

    hey = hey_binary()
    case = discover(CASE)[0].load()
    data_dir = Path(tempfile.mkdtemp(prefix="rca-bench-api-"))
    method = get_method(args.method)
    fit_seconds = 0.0
    if method.learns:
        started = time.perf_counter()
        history = preprocess(case).normal()
        method.fit(history)
        fit_seconds = time.perf_counter() - started
        registry = ModelRegistry(data_dir / "models")
        registry.promote(registry.register(method, history).version)  # type: ignore[arg-type]

    frame = case.frame
    payload = {
        "case": {
            "time": frame.index.tolist(),
            "series": {c: [None if v != v else v for v in frame[c].tolist()] for c in frame.columns},
            "inject_time": case.inject_time,
        },
        "method": args.method,
        "k": 5,
    }
    body = data_dir / "payload.json"
    body.write_text(json.dumps(payload))

    env = {
        "RCA_DATA_DIR": str(data_dir),
        "RCA_API_KEYS": f"{KEY}:admin",
        "RCA_DEFAULT_METHOD": args.method,
        "RCA_RETRAIN_CRON": "",
        "RCA_SYNC_ANALYSIS_SECONDS": "30",
    }
    with ServeProcess(log=data_dir / "serve.log", env=env) as server:
        base = server.base_url
        headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        answer = httpx.post(f"{base}/v1/analyses", content=body.read_bytes(), headers=headers, timeout=300)
        answer.raise_for_status()
        first = answer.json()
        load(hey, f"{base}/v1/analyses", requests=2 * args.clients, clients=args.clients, body=body)  # warm-up
        analyses = load(hey, f"{base}/v1/analyses", requests=args.analyses, clients=args.clients, body=body)
        paths = [f"/v1/analyses/{first['id']}", "/v1/analyses?limit=20", "/v1/services", "/healthz"]
        reads = {}
        for path in paths:
            load(hey, base + path, requests=2 * args.clients, clients=args.clients)  # warm-up
            reads[path] = load(hey, base + path, requests=args.reads, clients=args.clients)

    result = {
        "machine": machine(),
        "commit": commit(),
        "method": args.method,
        "model_version": first.get("model_version"),
        "top1": first["ranking"][0]["service"],
        "fit_seconds": round(fit_seconds, 2),
        "clients": args.clients,
        "series": frame.shape[1],
        "rows": frame.shape[0],
        "payload_bytes": body.stat().st_size,
        "analyses": analyses,
        "reads": reads,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "api.json").write_text(json.dumps(result, indent=1) + "\n")

    def row(name: str, r: dict[str, Any], target: str) -> str:
        return (
            f"| {name} | {r['requests']} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {r['max_ms']:.0f} | "
            f"{r['throughput_rps']:.0f} | {json.dumps(r['statuses'])} | {r['transport_errors']} | {target} |"
        )

    body_md = "\n".join(
        [
            "## API latency under load",
            f"Measured on {machine()}, commit {commit()}, server and load generator on the same machine. "
            f"Reproduce: `.venv/bin/python bench/api.py --clients {args.clients} --analyses {args.analyses} "
            f"--reads {args.reads} --method {args.method}`.",
            "",
            f"{args.clients} connections kept busy by `hey` ({HEY}), one endpoint at a time. Inline analyses of "
            f"sock-shop carts-cpu/1 ({frame.shape[1]} series x {frame.shape[0]} rows at 1 s, "
            f"{body.stat().st_size // 1024} KiB of JSON) with method `{args.method}` and a registered model "
            f"(version {first.get('model_version')}, fitted in {fit_seconds:.1f} s beforehand); top-1 answer: "
            f"{first['ranking'][0]['service']}.",
            "",
            "| requests | n | p50 ms | p99 ms | max ms | req/s | statuses | transport errors | target |",
            "|---|---|---|---|---|---|---|---|---|",
            row("`POST /v1/analyses` (inline)", analyses, "p99 < 1000 ms"),
            *(row(f"`GET {path.replace(first['id'], '{id}')}`", r, "p99 < 50 ms") for path, r in reads.items()),
        ]
    )
    replace_block("api", body_md)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
