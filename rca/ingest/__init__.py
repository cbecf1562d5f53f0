"""Streaming ingestion: Kafka consumers for OTLP metrics and spans, OTLP decoding, replay of cases."""

from rca.ingest.consumer import IngestStats, IngestWorker
from rca.ingest.otlp import DECODERS, DecodeError
from rca.ingest.replay import ReplayError, ReplayReport, plan_case, replay
from rca.ingest.settings import IngestSettings, SettingsError

__all__ = [
    "DECODERS",
    "DecodeError",
    "IngestSettings",
    "IngestStats",
    "IngestWorker",
    "ReplayError",
    "ReplayReport",
    "SettingsError",
    "plan_case",
    "replay",
]
