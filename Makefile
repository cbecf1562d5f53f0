# One entry point for people and CI. Every target sets up what it needs (idempotent).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SHARED ?= ../shared

.PHONY: setup demo test lint typecheck bench broker-start broker-stop clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

## The main job: evaluate the methods on the Sock Shop data and print the table.
demo: setup
	$(BIN)/rca eval $(SHARED)/data/sock-shop-rcd --method baro --method nsigma --method random

## The tests, with lint and type checks first.
test: setup lint typecheck
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check rca tests bench
	$(BIN)/ruff format --check rca tests bench

typecheck: setup
	$(BIN)/mypy rca

bench: setup
	$(BIN)/python bench/accuracy.py

broker-start:
	ingest/kafka.sh start

broker-stop:
	ingest/kafka.sh stop

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
