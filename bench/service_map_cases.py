"""Simulated service-map systems seen through a CloudWatch-like monitor (for ``bench/service_map.py``).

What a team with a managed, serverless-style system has: per component only its request count,
latency (average and percentiles) and availability, every 5 minutes, plus the call graph (a service
map). No resource metrics, spans or logs. A fault in one component shows in every component that
waits on it: its callers' latency rises by the time their calls spend in it, and their availability
falls as far as its failures are passed on. So the root cause is not the component that moves most:
an upstream caller with a quiet baseline can move further out of its range than the culprit.

Each case draws a new system:

- a call graph from one entry component through ``layers`` of services to leaves (databases, queues),
  each component called by one or two earlier ones, each call made by a share of the caller's requests;
- traffic with a daily cycle; each component's own time per request on its own scale (1 ms to 300 ms)
  that grows with its load; latency = own time + the shares of its callees' latency (synchronous calls);
  percentiles as noisy multiples of the average; availability = own success times what its callees'
  failures pass on (in percent);
- one fault at a component that has callers, lasting 3 to 12 rows (15 minutes to an hour) at the
  end of the case: ``latency`` (its own time x 1.5-6, e.g. a CPU hog; sometimes ramping, a leak),
  ``availability`` (its own success drops 2-40 points, e.g. a misconfiguration) or ``overload``
  (extra requests into it x 2-5: its own time rises with its load and its callees see the extra calls).

The alert (``symptom``) is on the entry component: its latency, or its availability for an
availability fault. Nothing here is fitted to a real system: the shares, scales and noise levels are
drawn from wide ranges per case, so a method that holds here does not hold by knowing them.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd

from rca.data.case import Case, RootCause, Telemetry

STEP = 300.0
"""Seconds between rows (CloudWatch's common 5-minute period)."""
DAY = 86_400.0
FAULTS = ("latency", "availability", "overload")
PERCENTILES = {"p50": 0.8, "p90": 1.7, "p99": 3.0}
"""Percentile -> its typical multiple of the average latency."""


@dataclass(frozen=True)
class ServiceMap:
    """A drawn system: component names, calls ``(caller, callee, share)`` and per-component parameters."""

    names: list[str]
    calls: list[tuple[int, int, float]]
    own_ms: np.ndarray
    load_gain: np.ndarray
    failure: np.ndarray
    passed_on: np.ndarray
    noise: np.ndarray
    timeout_ms: np.ndarray
    traffic: float

    def order(self) -> list[int]:
        """Components callees first (each one's latency needs its callees')."""
        graph = nx.DiGraph([(a, b) for a, b, _ in self.calls])
        graph.add_nodes_from(range(len(self.names)))
        return list(reversed(list(nx.topological_sort(graph))))


def draw_system(rng: np.random.Generator, *, components: int, layers: int = 4) -> ServiceMap:
    """A random layered call graph with per-component scales."""
    layer = np.sort(rng.integers(1, layers + 1, size=components))
    layer[0] = 0
    calls: list[tuple[int, int, float]] = []
    for j in range(1, components):
        earlier = np.flatnonzero(layer < layer[j])
        callers = rng.choice(earlier, size=min(len(earlier), int(rng.integers(1, 3))), replace=False)
        # calls per request: below 1 when only some requests need the callee, above with fan-out or retries
        calls.extend((int(i), j, float(np.exp(rng.uniform(np.log(0.2), np.log(3.0))))) for i in callers)
    kinds = ["api", "svc", "fn", "db", "queue", "store"]
    names = ["gateway"] + [f"{kinds[int(rng.integers(len(kinds)))]}{j:02d}" for j in range(1, components)]
    return ServiceMap(
        names=names,
        calls=calls,
        own_ms=np.exp(rng.uniform(np.log(1.0), np.log(300.0), components)),
        load_gain=rng.uniform(0.0, 0.6, components),
        failure=10 ** rng.uniform(-4, -2, components),
        passed_on=rng.uniform(0.3, 1.0, components),
        noise=rng.uniform(0.03, 0.2, components),
        timeout_ms=rng.uniform(1_000.0, 10_000.0, components),
        traffic=10 ** rng.uniform(1.0, 4.0),
    )


@dataclass(frozen=True)
class Fault:
    """One fault: at component ``root``, of ``kind`` (:data:`FAULTS`), from row ``start`` to the end.

    ``size``: the factor at its peak; ``ramp``: it grows linearly to ``size`` over the fault (a leak)
    instead of stepping there.
    """

    root: int
    kind: str
    start: int
    size: float
    ramp: bool


def simulate(system: ServiceMap, rows: int, rng: np.random.Generator, fault: Fault) -> pd.DataFrame:
    """``rows`` rows of every component's requests, latency and availability, with ``fault`` applied."""
    n = len(system.names)
    t = np.arange(rows) * STEP
    traffic = system.traffic * (1 + 0.5 * np.sin(2 * np.pi * t / DAY + rng.uniform(0, 2 * np.pi)))
    traffic *= np.exp(rng.normal(0, 0.05, rows))
    root, start = fault.root, fault.start
    progress = np.zeros(rows)
    span = max(rows - start, 1)
    progress[start:] = np.linspace(1.0 / span, 1.0, span) if fault.ramp else 1.0
    extra = np.where(progress > 0, 1 + (fault.size - 1) * progress, 1.0)

    requests = np.zeros((rows, n))
    requests[:, 0] = traffic
    callees: dict[int, list[tuple[int, float]]] = {i: [] for i in range(n)}
    for a, b, share in system.calls:
        callees[a].append((b, share))
    for i in reversed(system.order()):  # callers first
        if i == root and fault.kind == "overload":
            requests[:, i] *= extra
        for b, share in callees[i]:
            requests[:, b] += share * requests[:, i]
    mean_load = requests[: max(start, 1)].mean(axis=0)

    latency = np.zeros((rows, n))
    success = np.ones((rows, n))
    for i in system.order():  # callees first
        load = requests[:, i] / max(mean_load[i], 1e-9)
        own = system.own_ms[i] * (1 + system.load_gain[i] * (load - 1)) * np.exp(rng.normal(0, system.noise[i], rows))
        failing = system.failure[i] * np.exp(rng.normal(0, 0.5, rows))
        if i == root and fault.kind == "overload":
            own *= 1 + 0.5 * (extra - 1)  # queueing beyond the load gain
        if i == root and fault.kind == "latency":
            own *= extra
        if i == root and fault.kind == "availability":
            failing = failing + (fault.size - 1) / 10 * progress
        latency[:, i] = np.maximum(own, 0.1 * system.own_ms[i])
        success[:, i] = 1 - np.clip(failing, 0, 1)
        for b, share in callees[i]:
            # a failed call is retried or waited out until the caller's timeout
            latency[:, i] += share * (success[:, b] * latency[:, b] + (1 - success[:, b]) * system.timeout_ms[i])
            success[:, i] *= 1 - np.clip(share * system.passed_on[i] * (1 - success[:, b]), 0, 1)

    columns: dict[str, np.ndarray] = {}
    for i, name in enumerate(system.names):
        # what a period's statistics show of few requests is noisy: averages and tails by 1/sqrt(count)
        count = rng.poisson(np.maximum(requests[:, i], 0) * STEP / 60).astype(float)
        sampling = 1 / np.sqrt(np.maximum(count, 1))
        columns[f"{name}_requests"] = count
        columns[f"{name}_latency_average"] = latency[:, i] * np.exp(rng.normal(0, 1, rows) * sampling)
        for label, factor in PERCENTILES.items():
            tail = np.exp(rng.normal(0, 1, rows) * (0.05 + 0.1 * factor + factor * sampling))
            columns[f"{name}_latency_{label}"] = latency[:, i] * factor * tail
        ok = rng.binomial(count.astype(np.int64), np.clip(success[:, i], 0, 1))
        columns[f"{name}_availability"] = np.where(count > 0, 100 * ok / np.maximum(count, 1), np.nan)
    return pd.DataFrame(columns, index=t)


def make_case(index: int, rng: np.random.Generator, *, rows: int = 576, components: int = 0) -> Case:
    """One case: a new system, two days of 5-minute rows by default, a fault in the last 3-12 rows."""
    system = draw_system(rng, components=components or int(rng.integers(15, 41)))
    called = sorted({b for _, b, _ in system.calls})
    root = int(rng.choice(called))
    kind = FAULTS[int(rng.integers(len(FAULTS)))]
    length = int(rng.integers(3, 13))
    size = {"latency": rng.uniform(1.5, 6.0), "availability": rng.uniform(1.2, 5.0), "overload": rng.uniform(2.0, 5.0)}
    fault = Fault(root, kind, rows - length, float(size[kind]), bool(kind == "latency" and rng.random() < 0.3))
    frame = simulate(system, rows, rng, fault)
    symptom = "gateway_availability" if kind == "availability" else "gateway_latency_average"
    calls = [(system.names[a], system.names[b]) for a, b, _ in system.calls]
    return Case(
        name=f"{kind}-{index:03d}",
        telemetry=Telemetry.from_frame(frame, graph=calls),
        inject_time=float(frame.index[rows - length]),
        root_cause=RootCause(system.names[root], None, kind),
        symptom=symptom,
        step_seconds=STEP,
    )
