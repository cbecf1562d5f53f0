"""Streaming ingestion: Kafka consumers for OTLP metrics and spans, OTLP decoding, replay of cases."""

from rca.ingest.consumer import IngestWorker
from rca.ingest.decoders import DECODERS
from rca.ingest.metrics import IngestStats
from rca.ingest.records import DecodeError
from rca.ingest.replay import ReplayError, ReplayReport, plan_case, replay

__all__ = [
    "DECODERS",
    "DecodeError",
    "IngestStats",
    "IngestWorker",
    "ReplayError",
    "ReplayReport",
    "plan_case",
    "replay",
]
