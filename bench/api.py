"""API latency under 50 concurrent clients, with a fitted model, against a separate `rca serve` process.

Reproduce (from the project root, about 3 minutes on 2 cores)::

    .venv/bin/python bench/api.py [--clients 50] [--analyses 200] [--reads 2000] [--method run]

Steps: fit the method on the normal part of sock-shop carts-cpu/1 (38 series, 9.6 minutes at 1 s) and
register it; start `rca serve` on a free port; then 50 clients send inline analyses of that case
(201 expected; a 202 counts as slower than the synchronous budget), then 50 clients read
(`GET /v1/analyses/{id}`, `GET /v1/analyses?limit=20`, `GET /v1/services`, `GET /healthz`). The client
runs in this process, the server in its own, on the same 2 cores. Results go to
bench/results/api.json and the `api` block of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import RESULTS, ROOT, commit, machine, replace_block

from rca.api.client import wait_until_healthy
from rca.data import discover
from rca.data.preprocess import preprocess
from rca.methods import get_method
from rca.registry.models import ModelRegistry

CASE = ROOT.parent / "shared" / "data" / "sock-shop-rcd" / "carts-cpu" / "1"
KEY = "bench-admin-key-0001"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


async def load(base: str, requests: list[tuple[str, str, Any]], clients: int) -> dict[str, Any]:
    """Send ``requests`` from ``clients`` concurrent clients; latency and status of each."""
    queue: asyncio.Queue[tuple[str, str, Any]] = asyncio.Queue()
    for item in requests:
        queue.put_nowait(item)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0

    async def client() -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {KEY}"}, timeout=300) as http:
            while not queue.empty():
                method, path, body = queue.get_nowait()
                started = time.perf_counter()
                try:
                    response = await http.request(method, path, json=body)
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                except httpx.HTTPError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.perf_counter() - started
    return {
        "requests": len(requests),
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * percentile(latencies, 99),
        "max_ms": 1000 * max(latencies),
        "throughput_rps": len(latencies) / wall,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "transport_errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--analyses", type=int, default=200)
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--method", default="run")
    args = parser.parse_args()

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

    port = free_port()
    env = {
        **os.environ,
        "RCA_DATA_DIR": str(data_dir),
        "RCA_API_KEYS": f"{KEY}:admin",
        "RCA_DEFAULT_METHOD": args.method,
        "RCA_RETRAIN_CRON": "",
        "RCA_SYNC_ANALYSIS_SECONDS": "30",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "rca", "serve", "--port", str(port)], env=env, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        if not wait_until_healthy(base, alive=lambda: server.poll() is None):
            raise SystemExit("rca serve did not start")
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
        warm = httpx.post(f"{base}/v1/analyses", json=payload, headers={"Authorization": f"Bearer {KEY}"}, timeout=300)
        warm.raise_for_status()
        first = warm.json()
        analyses = asyncio.run(load(base, [("POST", "/v1/analyses", payload)] * args.analyses, args.clients))
        # reads are measured on their own: wait until no analysis is queued or running any more
        headers = {"Authorization": f"Bearer {KEY}"}
        while any(
            item["status"] in ("pending", "running")
            for item in httpx.get(f"{base}/v1/analyses", params={"limit": 200}, headers=headers, timeout=60).json()[
                "items"
            ]
        ):
            time.sleep(1.0)
        paths = [f"/v1/analyses/{first['id']}", "/v1/analyses?limit=20", "/v1/services", "/healthz"]
        reads = asyncio.run(load(base, [("GET", paths[i % len(paths)], None) for i in range(args.reads)], args.clients))
    finally:
        server.terminate()
        server.wait(timeout=30)

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
        "analyses": analyses,
        "reads": reads,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "api.json").write_text(json.dumps(result, indent=1) + "\n")

    def row(name: str, r: dict[str, Any], target: str) -> str:
        return (
            f"| {name} | {r['requests']} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {r['max_ms']:.0f} | "
            f"{r['throughput_rps']:.1f} | {json.dumps(r['statuses'])} | {r['transport_errors']} | {target} |"
        )

    body = "\n".join(
        [
            "## API latency under load",
            f"Measured on {machine()}, commit {commit()}, server and client on the same machine. Reproduce: "
            f"`.venv/bin/python bench/api.py --clients {args.clients} --analyses {args.analyses} --reads {args.reads}"
            f" --method {args.method}`.",
            "",
            f"Inline analyses of sock-shop carts-cpu/1 ({frame.shape[1]} series x {frame.shape[0]} rows at 1 s) with "
            f"method `{args.method}` and a registered model (version {first.get('model_version')}, fitted in "
            f"{fit_seconds:.1f} s beforehand); top-1 answer: {first['ranking'][0]['service']}.",
            "",
            "| requests | n | p50 ms | p99 ms | max ms | req/s | statuses | transport errors | target |",
            "|---|---|---|---|---|---|---|---|---|",
            row(f"inline analyses, {args.clients} clients", analyses, "p99 < 1000 ms"),
            row(f"reads, {args.clients} clients", reads, "p99 < 50 ms"),
        ]
    )
    replace_block("api", body)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
