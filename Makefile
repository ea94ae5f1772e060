# The two set-up commands of the README, and a few more for developers.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: demo test install dev lint typecheck serve bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps reinstall only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

dev: $(VENV)/.installed-dev

## make demo: set up, load the demo organisation once, serve on http://127.0.0.1:8000
demo: install
	$(BIN)/bridgehead init
	$(BIN)/bridgehead demo --if-empty
	$(BIN)/bridgehead serve --host $(HOST) --port $(PORT)

serve: install
	$(BIN)/bridgehead serve --host $(HOST) --port $(PORT)

lint: dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: dev
	$(BIN)/mypy

## make test: lint, type-check, then the whole suite on SQLite, PostgreSQL and Chromium
test: lint typecheck
	$(BIN)/pytest -p no:cacheprovider $(PYTEST_ARGS)

bench: dev
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
