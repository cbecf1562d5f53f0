"""Ingestion's view of the settings: the ``ingest`` section of :class:`rca.settings.Settings` and encodings.

:class:`IngestSettings` is defined with the one settings object in :mod:`rca.settings` and re-exported
here; topic defaults are the OpenTelemetry Collector's.
"""

from __future__ import annotations

from rca.settings import IngestSettings, SettingsError, Signal

OTLP_ENCODINGS = ("otlp_proto", "otlp_json")
"""Encodings of the OTLP topics (the Collector's Kafka exporter names)."""

REPLAY_ENCODINGS = ("otlp_proto", "otlp_json", "jsonl")
"""Encodings ``rca replay`` can publish; ``jsonl`` means the ``rca_metrics`` and ``rca_logs`` JSON-lines topics."""

__all__ = ["OTLP_ENCODINGS", "REPLAY_ENCODINGS", "IngestSettings", "SettingsError", "Signal"]
