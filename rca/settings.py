"""The one settings object: environment variables ``RCA_*``, optionally a TOML file.

Precedence, highest first: constructor arguments, environment variables, the TOML file named by
``RCA_CONFIG`` (keys as the field names, e.g. ``data_dir = "/var/lib/rca"``), the defaults below. The
README's configuration table is generated from this class (``rca settings --markdown``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

Encoding = Literal["otlp_proto", "otlp_json"]
Scope = Literal["read", "admin"]


class Settings(BaseSettings):
    """Configuration of the service, the ingestion and the engine."""

    model_config = SettingsConfigDict(env_prefix="RCA_", extra="forbid", validate_default=True)

    # Where things live.
    data_dir: Path = Field(Path("."), description="Holds the embedded store (rca.sqlite) and models/.")
    store_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the store (postgresql+psycopg://... to scale out); default SQLite in data_dir.",
    )
    retention_hours: float = Field(72.0, gt=0, description="Points and spans older than this are purged.")

    # HTTP service.
    host: str = Field("127.0.0.1", description="Address `rca serve` binds to (loopback only unless API keys are set).")
    port: int = Field(8080, ge=0, le=65535, description="Port `rca serve` listens on.")
    api_keys: str = Field(
        "", description='Bearer keys with scopes, "key1:read,key2:admin"; empty = no auth, loopback only.'
    )
    max_request_bytes: int = Field(20_000_000, gt=0, description="Largest accepted request body.")

    # Ingestion.
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, host:port[,host:port].")
    consumer_group: str = Field(
        "rca-ingest", description="Consumer group; ingest workers in one group split partitions."
    )
    metrics_topic: str = Field("otlp_metrics", description="Topic of OTLP metrics.")
    metrics_encoding: Encoding = Field("otlp_proto", description="otlp_proto or otlp_json.")
    spans_topic: str = Field("otlp_spans", description="Topic of OTLP spans.")
    spans_encoding: Encoding = Field("otlp_proto", description="otlp_proto or otlp_json.")
    jsonl_topic: str = Field("rca_metrics", description='Topic of JSON-lines points {"ts","service","metric","value"}.')
    dlq_topic: str = Field("rca_dlq", description="Dead-letter topic for malformed messages.")
    kafka_offset_reset: Literal["earliest", "latest"] = Field(
        "earliest", description="Where a new consumer group starts (earliest: nothing published before is lost)."
    )
    ingest_batch: int = Field(500, gt=0, description="Messages per ingest batch (one transaction, one offset commit).")
    span_bucket_seconds: float = Field(60.0, gt=0, description="Time bucket of span-derived series.")

    # Incidents and analyses.
    symptoms: str = Field(
        "", description="Series watched for incidents, comma-separated; empty = every series (as the ranking)."
    )
    detector_threshold: float = Field(
        20.0, gt=0, description="A point is anomalous this many times beyond its series' widest normal swing."
    )
    detector_open_after: int = Field(2, ge=1, description="Consecutive anomalous points that open an incident.")
    detector_close_after: int = Field(5, ge=1, description="Consecutive normal points that close it.")
    incident_lead_seconds: float = Field(
        0.0, ge=0, description="An incident's anomaly time is this long before its detected onset."
    )
    incident_horizon_seconds: float = Field(
        240.0, gt=0, description="An incident is analysed once data this long after its onset is in (or it closes)."
    )
    default_method: str = Field("run", description="Method of analyses that name none.")
    default_k: int = Field(5, ge=1, le=100, description="Candidates returned by default.")
    baseline_seconds: float = Field(600.0, gt=0, description="Baseline before the anomaly time for window analyses.")
    sync_analysis_seconds: float = Field(5.0, ge=0, description="An analysis not done within this answers 202.")
    analysis_processes: int = Field(
        2, ge=1, le=256, description="Worker processes that run analyses in parallel (about one per core)."
    )

    # Models.
    retrain_cron: str | None = Field("0 * * * *", description="Cron schedule of retraining; empty disables it.")
    training_hours: float = Field(24.0, gt=0, description="History used by scheduled retraining.")

    # Optional LLM explainer.
    llm_base_url: str | None = Field(None, description="OpenAI-compatible endpoint; unset = template explainer.")
    llm_model: str | None = Field(None, description="Model name sent to the endpoint.")
    llm_api_key: str | None = Field(None, description="Bearer key for the endpoint.")
    llm_timeout_s: float = Field(20.0, gt=0, description="Wall time of one LLM explanation.")
    llm_max_calls: int = Field(12, ge=2, description="Chat-completion requests per explanation (synthesis included).")
    llm_max_depth: int = Field(2, ge=1, description="Depth of the recursion over the causal subgraph.")
    llm_top_k: int = Field(3, ge=1, description="Top candidates whose subgraph the agents explore.")
    llm_max_turns: int = Field(3, ge=1, description="Requests per agent.")
    llm_max_tokens: int = Field(600, ge=16, description="max_tokens sent with every request.")
    llm_max_total_tokens: int = Field(40_000, ge=100, description="Token budget of one explanation.")

    @field_validator("retrain_cron", "store_url", "llm_base_url", "llm_model", "llm_api_key", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("api_keys")
    @classmethod
    def _check_keys(cls, value: str) -> str:
        parse_api_keys(value)
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config = os.environ.get("RCA_CONFIG")
        if config:
            if not Path(config).is_file():
                raise ValueError(f"RCA_CONFIG={config} is not a file; point it at a TOML file or unset it")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config))
        return tuple(sources)

    @property
    def llm_limits(self) -> dict[str, float | int]:
        """Keyword arguments of :class:`rca.explain.LLMExplainer` from the ``llm_*`` limits."""
        return {
            "timeout_s": self.llm_timeout_s,
            "max_calls": self.llm_max_calls,
            "max_depth": self.llm_max_depth,
            "k": self.llm_top_k,
            "max_turns": self.llm_max_turns,
            "max_tokens": self.llm_max_tokens,
            "max_total_tokens": self.llm_max_total_tokens,
        }

    @property
    def models_dir(self) -> Path:
        """The model registry: ``<data_dir>/models``."""
        return self.data_dir / "models"

    @property
    def resolved_store_url(self) -> str:
        """``store_url``, or the embedded SQLite file under ``data_dir``."""
        return self.store_url or f"sqlite:///{(self.data_dir / 'rca.sqlite').resolve()}"

    @property
    def key_scopes(self) -> dict[str, Scope]:
        """API key -> scope."""
        return parse_api_keys(self.api_keys)

    @property
    def symptom_list(self) -> list[str]:
        """The configured symptom series (empty means automatic)."""
        return [s.strip() for s in self.symptoms.split(",") if s.strip()]


def parse_api_keys(text: str) -> dict[str, Scope]:
    """Parse ``"key1:read,key2:admin"``; raises ``ValueError`` saying what is wrong."""
    keys: dict[str, Scope] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key, sep, scope = item.rpartition(":")
        if not sep or not key or scope not in ("read", "admin"):
            raise ValueError(f'API key entry {item[:4]}... must look like "<key>:read" or "<key>:admin"')
        if len(key) < 8:
            raise ValueError("API keys must be at least 8 characters long")
        keys[key] = "admin" if scope == "admin" else "read"
    return keys
