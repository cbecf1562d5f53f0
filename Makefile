# One entry point for people and CI. Every target sets up what it needs (idempotent).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SHARED ?= ../shared

.PHONY: setup demo demo-stop eval test lint typecheck bench broker-start broker-stop otelcol clean

$(STAMP): pyproject.toml
	@echo "== setting up $(VENV): the first time takes about 6 minutes and 6.2 GB (PyPI's PyTorch wheel for Linux brings its CUDA libraries)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --progress-bar off -e '.[dev,ml]'
	touch $(STAMP)
	@echo "== $(VENV) ready ($$(du -sh $(VENV) | cut -f1))"

setup: $(STAMP)

## The main job, end to end: Kafka broker, `rca serve --ingest`, a sock-shop fault chosen at random (or
## CASE=carts-cpu/1) replayed through Kafka, the incident detected by the service itself, its top-5 causes
## printed. The API stays up (make demo-stop).
demo: setup
	ingest/kafka.sh start
	$(BIN)/rca demo --dataset $(SHARED)/data/sock-shop-rcd $(if $(CASE),--case $(CASE))

demo-stop: setup
	$(BIN)/rca demo --stop
	ingest/kafka.sh stop

## Score run beside three peers on sock-shop (bench/accuracy.py makes the full tables of docs/benchmarks.md).
eval: setup
	$(BIN)/rca eval $(SHARED)/data/sock-shop-rcd --method run --method baro --method nsigma --method random

## The tests, with lint and type checks first (and the Collector of the interoperability test, built once).
test: setup lint typecheck otelcol
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
	$(BIN)/python bench/service_map.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/otlp_json.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/web.py

broker-start:
	ingest/kafka.sh start

## The OpenTelemetry Collector of the interoperability test, built once into .otelcol/ from pinned Go
## modules (needs Go and the Go module proxy; about 5 minutes the first time, a no-op afterwards).
otelcol:
	ingest/otelcol.sh build

broker-stop:
	ingest/kafka.sh stop

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
