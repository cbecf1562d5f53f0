"""The one settings object: environment variables ``RCA_*``, optionally a TOML file.

Precedence, highest first: constructor arguments, environment variables, the TOML file named by
``RCA_CONFIG`` (keys as the variable names without ``RCA_`` in lower case, e.g. ``data_dir =
"/var/lib/rca"``), the defaults below. Every value is range-checked when the settings are built,
so a process stops at start-up with one line naming the variable (:func:`describe_error`) rather
than failing later. The README's configuration table is generated from :func:`variables`
(``rca settings --markdown``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from rca.errors import RCAError

Encoding = Literal["otlp_proto", "otlp_json"]
Scope = Literal["read", "admin"]
Signal = Literal["metrics", "spans", "jsonl", "logs", "logs_jsonl"]

PREFIX = "RCA_"
MAX_HOURS = 100 * 365 * 24
"""The longest duration a setting may give (100 years): the store keeps times as 64-bit nanoseconds."""


class SettingsError(RCAError, ValueError):
    """A setting has a value that cannot work; the message names it and the fix."""


class IngestSettings(BaseModel):
    """Where to read telemetry from and how it is encoded.

    Fields with an alias are settings of their own (``RCA_<ALIAS>``); the others are tuning knobs
    of the worker, or (``store_url``, ``data_dir``, ``retention_seconds``, ``span_step_seconds``)
    copied from the top-level settings by :class:`rca.settings.Settings`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    bootstrap: str = Field(
        "127.0.0.1:9092", alias="kafka_bootstrap", description="Kafka bootstrap servers, host:port[,host:port]."
    )
    group_id: str = Field(
        "rca-ingest",
        alias="consumer_group",
        description="Consumer group; ingest workers in one group split partitions.",
    )
    metrics_topic: str = Field("otlp_metrics", alias="metrics_topic", description="Topic of OTLP metrics.")
    metrics_encoding: Encoding = Field("otlp_proto", alias="metrics_encoding", description="otlp_proto or otlp_json.")
    spans_topic: str = Field("otlp_spans", alias="spans_topic", description="Topic of OTLP spans.")
    spans_encoding: Encoding = Field("otlp_proto", alias="spans_encoding", description="otlp_proto or otlp_json.")
    jsonl_topic: str = Field(
        "rca_metrics",
        alias="jsonl_topic",
        description='Topic of JSON-lines points {"ts","service","metric","value"}; empty disables it.',
    )
    logs_topic: str = Field("otlp_logs", alias="logs_topic", description="Topic of OTLP logs; empty disables it.")
    logs_encoding: Encoding = Field("otlp_proto", alias="logs_encoding", description="otlp_proto or otlp_json.")
    logs_jsonl_topic: str = Field(
        "rca_logs",
        alias="logs_jsonl_topic",
        description='Topic of JSON-lines log records {"ts","service","level","message"[,"trace_id","span_id"]}; '
        "empty disables it.",
    )
    log_bucket_seconds: float = Field(
        60.0, gt=0, le=86_400, alias="log_bucket_seconds", description="Time bucket log records are counted in."
    )
    dlq_topic: str = Field("rca_dlq", alias="dlq_topic", description="Dead-letter topic for malformed messages.")
    auto_offset_reset: Literal["earliest", "latest"] = Field(
        "earliest",
        alias="kafka_offset_reset",
        description="Where a new consumer group starts (earliest: nothing published before is lost).",
    )
    max_batch_records: int = Field(
        500,
        gt=0,
        le=100_000,
        alias="ingest_batch",
        description="Messages per ingest batch (points and spans in one transaction, logs in a second; one commit).",
    )
    poll_timeout_ms: int = Field(500, gt=0, description="How long one poll waits for messages.")
    max_message_bytes: int = Field(4 * 1024 * 1024, gt=0, description="Larger messages go to the dead-letter topic.")
    dlq_max_value_bytes: int = Field(
        256 * 1024, gt=0, description="A dead letter keeps at most this much of the original value."
    )
    session_timeout_ms: int = Field(
        10_000, gt=0, description="How soon a crashed worker's partitions move to the other workers."
    )
    retention_interval_seconds: float = Field(600.0, gt=0, description="How often a worker applies retention.")
    client_id: str = Field("rca-ingest", description="Kafka client id prefix.")
    extra_consumer_config: dict[str, Any] = Field(default_factory=dict, description="More KafkaConsumer options.")
    store_url: str = Field("", description="Database URL; empty means SQLite at <data_dir>/rca.sqlite.")
    data_dir: str = Field(".", description="Data directory of the embedded store.")
    retention_seconds: float = Field(
        72 * 3600.0, ge=0, description="Data this much older than the newest is purged; 0 keeps everything."
    )
    span_step_seconds: float = Field(60.0, gt=0, description="Bucket width of trace-derived series on read.")

    @model_validator(mode="after")
    def _check_topics(self) -> IngestSettings:
        if not self.bootstrap.strip():
            raise ValueError("the Kafka bootstrap is empty; give the broker as HOST:PORT (RCA_KAFKA_BOOTSTRAP)")
        named = {
            "RCA_METRICS_TOPIC": self.metrics_topic,
            "RCA_SPANS_TOPIC": self.spans_topic,
            "RCA_JSONL_TOPIC": self.jsonl_topic,
            "RCA_LOGS_TOPIC": self.logs_topic,
            "RCA_LOGS_JSONL_TOPIC": self.logs_jsonl_topic,
        }
        topics = [t for t in named.values() if t]
        if len(set(topics)) != len(topics):
            raise ValueError("topics must differ, got " + ", ".join(f"{k}={v!r}" for k, v in named.items() if v))
        if self.dlq_topic in topics or not self.dlq_topic:
            raise ValueError(f"RCA_DLQ_TOPIC {self.dlq_topic!r} must be set and differ from the input topics")
        return self

    def topics(self) -> dict[str, tuple[Signal, str]]:
        """``topic -> (signal, encoding)`` for every enabled input topic."""
        pairs: list[tuple[str, tuple[Signal, str]]] = [
            (self.metrics_topic, ("metrics", self.metrics_encoding)),
            (self.spans_topic, ("spans", self.spans_encoding)),
            (self.jsonl_topic, ("jsonl", "jsonl")),
            (self.logs_topic, ("logs", self.logs_encoding)),
            (self.logs_jsonl_topic, ("logs_jsonl", "jsonl")),
        ]
        return {topic: kind for topic, kind in pairs if topic}

    def with_overrides(self, **overrides: Any) -> IngestSettings:
        """A copy with the given fields replaced (by field name); ``None`` values are ignored.

        Raises
        ------
        SettingsError
            When a value cannot work; the message names the field and what is wrong.
        """
        values = {**self.model_dump(), **{k: v for k, v in overrides.items() if v is not None}}
        try:
            return IngestSettings.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "settings"
            raise SettingsError(f"{where}: {_message(first)}") from None


class Settings(BaseSettings):
    """Configuration of the service, the ingestion and the engine."""

    model_config = SettingsConfigDict(env_prefix="RCA_", extra="forbid", validate_default=True)

    # Where things live.
    data_dir: Path = Field(Path("."), description="Holds the embedded store (rca.sqlite) and models/.")
    store_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the store (postgresql+psycopg://... to scale out); default SQLite in data_dir.",
    )
    retention_hours: float = Field(
        72.0,
        gt=0,
        le=MAX_HOURS,
        description="Points, spans and log counts older than this are purged (at most 100 years).",
    )

    # HTTP service.
    host: str = Field("127.0.0.1", description="Address `rca serve` binds to (loopback only unless API keys are set).")
    port: int = Field(8080, ge=0, le=65535, description="Port `rca serve` listens on.")
    api_keys: SecretStr = Field(
        SecretStr(""),
        description='Bearer keys (8+ characters) with scopes, "key1:read,key2:admin"; empty = no auth, loopback only.',
    )
    max_request_bytes: int = Field(20_000_000, gt=0, le=2**31, description="Largest accepted request body.")

    # Ingestion (the RCA_* variables named by the section's aliases).
    ingest: IngestSettings = Field(
        default_factory=IngestSettings, description="Broker, topics, encodings, batching of the ingest workers."
    )
    span_bucket_seconds: float = Field(60.0, gt=0, le=86_400, description="Time bucket of span-derived series.")

    # Incidents and analyses.
    symptoms: str = Field(
        "", description="Series watched for incidents, comma-separated; empty = every series (as the ranking)."
    )
    detector_threshold: float = Field(
        20.0, gt=0, le=1e6, description="A point is anomalous this many times beyond its series' widest normal swing."
    )
    detector_log_threshold: float = Field(
        6.0,
        gt=0,
        le=1e6,
        description="A service's log change in a bucket is anomalous from this score (normal range: 1).",
    )
    detector_open_after: int = Field(
        2, ge=1, le=100_000, description="Consecutive anomalous points that open an incident."
    )
    detector_close_after: int = Field(5, ge=1, le=100_000, description="Consecutive normal points that close it.")
    incident_lead_seconds: float = Field(
        0.0, ge=0, le=1e7, description="An incident's anomaly time is this long before its detected onset."
    )
    incident_horizon_seconds: float = Field(
        240.0,
        gt=0,
        le=1e7,
        description="An incident is analysed once data this long after its onset is in (or it closes).",
    )
    incident_quiet_seconds: float = Field(
        60.0,
        gt=0,
        le=1e7,
        description="An incident waiting for its horizon is analysed on what is stored once no newer data "
        "has arrived for this long (wall clock: the stream stopped).",
    )
    default_method: str = Field("run", description="Method of analyses that name none.")
    default_k: int = Field(5, ge=1, le=100, description="Candidates returned by default.")
    baseline_seconds: float = Field(
        600.0, gt=0, le=MAX_HOURS * 3600, description="Baseline before the anomaly time for window analyses."
    )
    sync_analysis_seconds: float = Field(
        5.0, ge=0, le=3600, description="An analysis not done within this answers 202."
    )
    analysis_processes: int = Field(
        2, ge=1, le=256, description="Worker processes that run analyses in parallel (about one per core)."
    )

    # Models.
    retrain_cron: str | None = Field("0 * * * *", description="Cron schedule of retraining; empty disables it.")
    training_hours: float = Field(24.0, gt=0, le=MAX_HOURS, description="History used by scheduled retraining.")

    # Optional LLM explainer.
    llm_base_url: str | None = Field(None, description="OpenAI-compatible endpoint; unset = template explainer.")
    llm_model: str | None = Field(None, description="Model name sent to the endpoint.")
    llm_api_key: SecretStr | None = Field(None, description="Bearer key for the endpoint.")
    llm_timeout_s: float = Field(20.0, gt=0, le=3600, description="Wall time of one LLM explanation.")
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
    def _check_keys(cls, value: SecretStr) -> SecretStr:
        parse_api_keys(value.get_secret_value())
        return value

    @model_validator(mode="before")
    @classmethod
    def _flat_ingest(cls, data: Any) -> Any:
        """Variables and TOML keys of the ingest section are flat (``kafka_bootstrap``): nest them."""
        if not isinstance(data, dict):
            return data
        aliases = [f.alias for f in IngestSettings.model_fields.values() if f.alias]
        flat = {a: data[a] for a in aliases if a in data}
        if not flat:
            return data
        given = data.get("ingest") or {}
        section = given.model_dump() if isinstance(given, IngestSettings) else dict(given)
        return {**{k: v for k, v in data.items() if k not in flat}, "ingest": {**section, **flat}}

    @model_validator(mode="after")
    def _share_store(self) -> Settings:
        """The ingest workers write to the store these settings name, with its retention and span buckets."""
        self.ingest = self.ingest.model_copy(
            update={
                "store_url": self.store_url or "",
                "data_dir": str(self.data_dir),
                "retention_seconds": self.retention_hours * 3600.0,
                "span_step_seconds": self.span_bucket_seconds,
            }
        )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, _FlatSectionEnv(settings_cls)]
        config = os.environ.get("RCA_CONFIG")
        if config:
            if not Path(config).is_file():
                raise SettingsError(f"RCA_CONFIG={config} is not a file; point it at a TOML file or unset it")
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
    def llm_key(self) -> str | None:
        """The LLM endpoint's key in clear (only for the request header)."""
        return None if self.llm_api_key is None else self.llm_api_key.get_secret_value()

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
        return parse_api_keys(self.api_keys.get_secret_value())

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


class _FlatSectionEnv(PydanticBaseSettingsSource):
    """The ingest section's variables, by their flat names (``RCA_KAFKA_BOOTSTRAP``, not ``RCA_INGEST__...``)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads the section at once

    def __call__(self) -> dict[str, Any]:
        env = {k.upper(): v for k, v in os.environ.items()}
        aliases = [f.alias for f in IngestSettings.model_fields.values() if f.alias]
        return {a: env[PREFIX + a.upper()] for a in aliases if PREFIX + a.upper() in env}


@dataclass(frozen=True)
class Variable:
    """One setting as the environment names it."""

    name: str
    """The variable, ``RCA_<NAME>``."""
    default: Any
    description: str
    path: tuple[str, ...]
    """Where it lives in :class:`Settings` (``("ingest", "bootstrap")``)."""


def variables() -> list[Variable]:
    """Every setting, in declaration order, with its variable name (the ingest section's flattened)."""
    out = []
    for name, field in Settings.model_fields.items():
        if name == "ingest":
            out += [
                Variable(PREFIX + (sub.alias or key).upper(), sub.default, sub.description or "", (name, key))
                for key, sub in IngestSettings.model_fields.items()
                if sub.alias
            ]
        else:
            out.append(Variable(PREFIX + name.upper(), field.default, field.description or "", (name,)))
    return out


def _message(error: ErrorDetails) -> str:
    return str(error["msg"]).removeprefix("Value error, ")


def describe_error(exc: ValidationError) -> str:
    """One line naming each bad variable, what is wrong and what to do."""
    by_path: dict[tuple[str, ...], str] = {v.path: v.name for v in variables()}
    by_alias: dict[tuple[str, ...], str] = {
        (v.path[0], v.name.removeprefix(PREFIX).lower()): v.name for v in variables() if len(v.path) == 2
    }
    parts = []
    for error in exc.errors()[:3]:
        loc = tuple(str(p) for p in error["loc"])
        name = by_path.get(loc[:2]) or by_alias.get(loc[:2]) or by_path.get(loc[:1]) or PREFIX + "_".join(loc).upper()
        parts.append(f"{name}: {_message(error)}")
    return "; ".join(parts) + " (set the variable, or the key in the RCA_CONFIG file, and start again)"
