"""The live path without the broker and the server: ``bench/live.py --in-process``.

What `rca serve --ingest` does with a replayed case, in one process: every message the replay would
publish (:func:`rca.ingest.replay.plan_case`) goes through the consumer's decoder
(:data:`rca.ingest.decoders.DECODERS`) into a fresh :class:`rca.store.store.Store`, and the service's
own :class:`rca.service.watcher.IncidentWatcher` polls that store as the data arrives (when the replay
ends, an incident still waiting for its horizon is analysed on what is stored, as the service does once
no data has come for ``incident_quiet_seconds``). Its incidents' analyses and the window analysis at
the true fault time run on the cases the watcher and :func:`rca.service.watcher.window_case` read back
from the store, with the service's analysis code (:class:`rca.analysis.Analyzer`). Not measured: the
broker, the consumer's batching, HTTP.

History: a deployed service has been running all day before a fault. Where a case has a fault-free
history (``Case.history``: Train Ticket's day before the fault, other faults' windows removed), its
rows before the case's first row are stored first and the watcher's first poll reads them all, as at
a service's start-up over its retained store; then the case is stored poll by poll.

Polling: the service's watcher polls once a second of wall time (``WATCH_INTERVAL_SECONDS``), so
against a replay at speed ``s`` it polls every ``s`` seconds of data time. Here it polls every
``poll_seconds`` of data time (default 10: a replay at ten times real time), after the messages of
those seconds are stored in one transaction (as the consumer stores a batch). What the detector sees
does not depend on the cadence: every poll re-reads a few steps before the newest point it saw, the
detector ignores points it has seen, and an incident's window is read up to its own end whenever the
poll that notices the end comes (``tests`` of the watcher; checked case by case with ``--poll-seconds 0``,
a poll after every message time).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from rca.analysis import Analyzer
from rca.data.case import Case
from rca.ingest.decoders import DECODERS, decode
from rca.ingest.replay import OutMessage, case_step, plan_case
from rca.service.watcher import IncidentWatcher, window_case
from rca.settings import Settings
from rca.store.logs import LogMessage, LogStore
from rca.store.records import Records
from rca.store.store import Store

ENCODING = "otlp_proto"


def service_settings(case: Case) -> Settings:
    """The settings ``bench/live.py`` starts each `rca serve` with (see ``Server``)."""
    step = case_step(case)
    normal = case.inject_time - data_span(case, Settings().ingest.log_bucket_seconds)[0]
    return Settings().model_copy(
        update={"span_bucket_seconds": step, "baseline_seconds": max(600.0, normal + step), "default_k": 5}
    )


class LocalService:
    """A store, a watcher and the analyser of one case, fed message by message."""

    def __init__(self, settings: Settings, directory: Path, *, analyse: bool = True) -> None:
        self.settings = settings
        self.store = Store(None, data_dir=directory, span_step_seconds=settings.span_bucket_seconds)
        self.logs = LogStore(self.store, bucket_seconds=settings.ingest.log_bucket_seconds)
        self.records = Records(self.store)
        self.analyzer = Analyzer()
        self.analyses: dict[str, dict[str, Any]] = {}
        self.analyse_incidents = analyse
        self.watcher = IncidentWatcher(settings, self.store, self.records, self._submit)
        self._topics = settings.ingest.topics()
        self._offset = 0

    def _submit(self, case: Case, source: str) -> dict[str, Any]:
        record = self.records.create_analysis({"source": source, "window": window_of(case)})
        if self.analyse_incidents:
            self.analyses[record["id"]] = self.analyse(case)
        return record

    def analyse(self, case: Case) -> dict[str, Any]:
        """The service's analysis of ``case`` (its document: ranking, graph, timings) and its window."""
        result = self.analyzer.analyze(case, self.settings.default_method)
        return {**result.document(self.settings.default_k), "window": window_of(case)}

    def write(self, messages: list[OutMessage]) -> None:
        """Decode ``messages`` as the consumer does and store them (one transaction for points and spans)."""
        points, spans = [], []
        for message in messages:
            signal, encoding = self._topics[message.topic]
            rows = decode(DECODERS[(signal, encoding)], message.value, self.settings.ingest.max_message_bytes)
            self._offset += 1
            if signal == "spans":
                spans += rows
            elif signal in ("logs", "logs_jsonl"):
                self.logs.write([LogMessage(message.topic, 0, self._offset, rows)])
            else:
                points += rows
        if points or spans:
            self.store.write(points, spans)

    def close(self) -> None:
        self.store.close()


def window_of(case: Case) -> dict[str, float]:
    return {"start": float(case.frame.index[0]), "end": float(case.frame.index[-1]), "anomaly_time": case.inject_time}


def data_span(case: Case, log_bucket_seconds: float) -> tuple[float, float]:
    """``[start, end)`` holding all of the case's telemetry: its rows (the last with half a step), spans and logs.

    A recording's logs and spans may begin before its first metric row (Nezha's do, by up to a
    step); the window asked of the service must hold them, as the offline case does. The service
    returns the log buckets that start in the window, so the start is that of the first record's bucket.
    """
    times = [float(case.frame.index[0]), float(case.frame.index[-1]) + case_step(case) / 2]
    logs, traces = case.telemetry.logs, case.telemetry.traces
    if traces is not None and len(traces):
        times += [float(traces["start_ns"].min()) / 1e9, float(traces["start_ns"].max()) / 1e9]
    if logs is not None and len(logs):
        first = float(logs["time"].min())
        times += [first // log_bucket_seconds * log_bucket_seconds, float(logs["time"].max())]
    return min(times), float(np.nextafter(max(times), np.inf))


def history_messages(case: Case, settings: Settings) -> list[OutMessage]:
    """The messages of the case's fault-free history before its data (none without a history)."""
    if case.history is None or case.history.frame.empty:
        return []
    first = data_span(case, settings.ingest.log_bucket_seconds)[0]
    earlier = case.history.with_columns(list(case.history.frame.columns)).between(end=first)
    if earlier.frame.empty:
        return []
    return plan_case(Case(name=f"{case.name} history", telemetry=earlier, inject_time=first), settings.ingest, ENCODING)


def poll_slots(times: list[float], poll_seconds: float) -> list[list[float]]:
    """Message times grouped by the watcher poll that follows them (one group per time when ``poll_seconds`` is 0)."""
    slots: dict[float, list[float]] = {}
    for t in sorted(times):
        slots.setdefault(t if poll_seconds <= 0 else (t - times[0]) // poll_seconds, []).append(t)
    return list(slots.values())


def replay_local(case: Case, *, history: bool, analyse: bool = True, poll_seconds: float = 10.0) -> dict[str, Any]:
    """Store (history and) the case into a fresh local service; incidents, their analyses, the window analysis."""
    settings = service_settings(case)
    with tempfile.TemporaryDirectory(prefix="rca-live-local-") as directory:
        service = LocalService(settings, Path(directory), analyse=analyse)
        try:
            before = history_messages(case, settings) if history else []
            if before:
                service.write(before)
                service.watcher.watch_once()
            messages = plan_case(case, settings.ingest, ENCODING)
            by_time: dict[float, list[OutMessage]] = {}
            for message in messages:
                by_time.setdefault(message.at, []).append(message)
            for slot in poll_slots(sorted(by_time), poll_seconds):
                service.write([m for t in slot for m in by_time[t]])
                service.watcher.watch_once()
            service.watcher.analyse_pending()  # the stream ended: what the service does once it is quiet
            incidents, _ = service.records.list_incidents(limit=1000, offset=0)
            start, end = data_span(case, settings.ingest.log_bucket_seconds)
            window = (
                None if not analyse else window_case(service.store, settings, start, end, anomaly_time=case.inject_time)
            )
            return {
                "history_rows": len({m.at for m in before}),
                "incidents": [
                    {**i, "analysis": service.analyses.get(i.get("analysis_id") or "")}
                    for i in sorted(incidents, key=lambda i: i["opened_at"])
                ],
                "window": None if window is None else service.analyse(window),
            }
        finally:
            service.close()


def services_of(ranking: list[dict[str, Any]]) -> list[str]:
    """Distinct services of an analysis' ranking, in order."""
    return list(dict.fromkeys(item["service"] for item in ranking))


def rank_of(services: list[str], truth: str | None) -> int | None:
    return services.index(truth) + 1 if truth in services else None


def local_case(case: Case, *, history: bool, analyse: bool = True, poll_seconds: float = 10.0) -> dict[str, Any]:
    """One case through :func:`replay_local`, as ``bench/live.py``'s per-case record."""
    truth = case.root_cause.service if case.root_cause else None
    step = case_step(case)
    out = replay_local(case, history=history, analyse=analyse, poll_seconds=poll_seconds)
    fault = case.inject_time
    incidents = out["incidents"]
    onsets = [i["summary"]["onset"] for i in incidents]
    hit = next((i for i in incidents if i["summary"]["onset"] >= fault - step / 2), None)
    incident_analysis = (hit or {}).get("analysis") or {}
    detected = services_of(incident_analysis.get("ranking") or [])
    window = services_of(out["window"]["ranking"]) if out["window"] else []
    # what an SRE is shown for the fault: the hit, else an earlier incident still open at the fault
    open_at_fault = [i for i in incidents if i["summary"]["onset"] < fault <= i["summary"].get("recovered", fault)]
    holding = hit or (open_at_fault[-1] if open_at_fault else None)
    return {
        "case": case.name,
        "root_cause": truth,
        "history_rows": out["history_rows"],
        "incidents": len(incidents),
        "false_incidents": sum(1 for t in onsets if t < fault - step / 2),
        "false_in_history": sum(1 for t in onsets if t < float(case.frame.index[0])),
        "detected": hit is not None,
        "onset_error": None if hit is None else hit["summary"]["onset"] - fault,
        "opened_by": None if hit is None else max(hit["summary"]["symptoms"], key=hit["summary"]["symptoms"].get),
        "incident_window": incident_analysis.get("window"),
        "incident_status": "done" if incident_analysis else ("not analysed" if hit else None),
        "incident_error": (hit or {}).get("summary", {}).get("analysis_error"),
        "incident_rank": rank_of(detected, truth),
        "incident_top5": detected[:5],
        "holding_rank": rank_of(services_of(((holding or {}).get("analysis") or {}).get("ranking") or []), truth),
        "incident_timings": incident_analysis.get("timings"),
        "window_timings": (out["window"] or {}).get("timings"),
        "window_status": "done" if out["window"] else None,
        "window_error": None,
        "window_rank": rank_of(window, truth),
        "window_top5": window[:5],
    }
