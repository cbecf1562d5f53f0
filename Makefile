# One entry point for people and CI. Every target sets up what it needs (idempotent).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SHARED ?= ../shared

.PHONY: setup demo demo-stop eval test lint typecheck bench broker-start broker-stop clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

## The main job, end to end: Kafka broker, `rca serve --ingest`, a sock-shop fault replayed through Kafka,
## the incident detected by the service itself, its top-5 causes printed. The API stays up (make demo-stop).
demo: setup
	ingest/kafka.sh start
	$(BIN)/rca demo --case $(SHARED)/data/sock-shop-rcd/catalogue-cpu/1

demo-stop: setup
	$(BIN)/rca demo --stop
	ingest/kafka.sh stop

## Score every method on both shared datasets (tables as in docs/benchmarks.md).
eval: setup
	$(BIN)/rca eval $(SHARED)/data/sock-shop-rcd --method run --method baro --method nsigma --method random

## The tests, with lint and type checks first.
test: setup lint typecheck
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check rca tests bench notebooks
	$(BIN)/ruff format --check rca tests bench notebooks

typecheck: setup
	$(BIN)/mypy rca

bench: setup
	$(BIN)/python bench/accuracy.py
	$(BIN)/python bench/ablation.py ../shared/data/sock-shop-rcd
	$(BIN)/python bench/ablation.py ../shared/data/nezha-train-ticket
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/web.py

broker-start:
	ingest/kafka.sh start

broker-stop:
	ingest/kafka.sh stop

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
