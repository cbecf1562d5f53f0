"""The one settings object: the ingest section from flat variables, range checks, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from rca.settings import Settings, describe_error


def run_rca(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RCA_")}
    return subprocess.run(
        [sys.executable, "-m", "rca", *args], capture_output=True, text=True, timeout=120, env={**clean, **env}
    )


def test_the_ingest_section_reads_its_flat_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RCA_KAFKA_BOOTSTRAP", "broker:9999")
    monkeypatch.setenv("RCA_CONSUMER_GROUP", "g1")
    monkeypatch.setenv("RCA_INGEST_BATCH", "7")
    settings = Settings(data_dir=tmp_path, retention_hours=2, span_bucket_seconds=5)
    ingest = settings.ingest
    assert (ingest.bootstrap, ingest.group_id, ingest.max_batch_records) == ("broker:9999", "g1", 7)
    assert ingest.data_dir == str(tmp_path) and ingest.retention_seconds == 7200 and ingest.span_step_seconds == 5
    assert Settings(kafka_bootstrap="other:1").ingest.bootstrap == "other:1", "arguments win over the environment"
    assert ingest.with_overrides(group_id="g2", bootstrap=None).group_id == "g2"


def test_secrets_do_not_print(tmp_path: Path) -> None:
    settings = Settings(api_keys="secret-key-123:admin", llm_api_key="sk-very-secret")
    assert "secret-key-123" not in repr(settings) and "sk-very-secret" not in repr(settings)
    assert settings.key_scopes == {"secret-key-123": "admin"} and settings.llm_key == "sk-very-secret"
    shown = run_rca("settings", env={"RCA_API_KEYS": "secret-key-123:admin", "RCA_DATA_DIR": str(tmp_path)})
    assert shown.returncode == 0 and "secret-key-123" not in shown.stdout and "RCA_API_KEYS=*" in shown.stdout


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("RCA_RETENTION_HOURS", "100000000", "RCA_RETENTION_HOURS: Input should be less than or equal to 876000"),
        ("RCA_API_KEYS", "short:read", "RCA_API_KEYS: API keys must be at least 8 characters long"),
        ("RCA_INGEST_BATCH", "0", "RCA_INGEST_BATCH: Input should be greater than 0"),
        ("RCA_METRICS_TOPIC", "same", "topics must differ"),
    ],
)
def test_a_bad_setting_stops_start_up_with_one_line(variable: str, value: str, says: str, tmp_path: Path) -> None:
    env = {variable: value, "RCA_DATA_DIR": str(tmp_path)}
    if variable == "RCA_METRICS_TOPIC":
        env["RCA_SPANS_TOPIC"] = "same"
    result = run_rca("serve", "--port", "1", env=env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in result.stderr, result.stderr
    assert "RCA_CONFIG" in lines[0], "says what to do"


def test_describe_error_names_the_variable() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(ingest={"consumer_group": "g", "max_batch_records": -1})
    assert describe_error(caught.value).startswith("RCA_INGEST_BATCH: ")


def test_a_toml_file_sets_the_ingest_section_by_its_flat_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "rca.toml"
    config.write_text('kafka_bootstrap = "toml-broker:9092"\nretention_hours = 5\n')
    monkeypatch.setenv("RCA_CONFIG", str(config))
    settings = Settings()
    assert settings.ingest.bootstrap == "toml-broker:9092" and settings.ingest.retention_seconds == 5 * 3600
    monkeypatch.setenv("RCA_KAFKA_BOOTSTRAP", "env-broker:9092")
    assert Settings().ingest.bootstrap == "env-broker:9092", "the environment wins over the file"
