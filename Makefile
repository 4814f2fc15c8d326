# Nudge: `make run` starts the product on its embedded default; `make test` runs every check.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
SDK := tests/sdk
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format typecheck pytest services chromium wrk bench bench-full clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

## run: the embedded default (SQLite, file-system broker, demo data) with web, worker and beat.
run: $(VENV)/.runtime
	@bash scripts/run-embedded.sh "$(HOST)" "$(PORT)"

$(SDK)/node_modules/.installed: $(SDK)/package.json $(SDK)/package-lock.json
	@bash scripts/ensure-node.sh
	cd $(SDK) && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@

## test: everything CI checks, on PostgreSQL and Redis.
test: $(VENV)/.dev services chromium $(SDK)/node_modules/.installed lint typecheck pytest

services:
	@bash scripts/ensure-services.sh

# Debian's chromium for the panel's Playwright tests (never a browser Playwright downloads).
chromium:
	@bash scripts/ensure-chromium.sh

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(VENV)/.dev
	$(BIN)/mypy .

# Two pytest-xdist workers, each on a PostgreSQL and a Redis database of its own (tests/conftest.py);
# then, alone, the test that stops PostgreSQL under the other worker's feet too.
ALONE := tests/activities/test_database_outage.py
pytest: $(VENV)/.dev services chromium $(SDK)/node_modules/.installed
	$(BIN)/pytest -q -n 2 --dist worksteal --ignore=$(ALONE)
	$(BIN)/pytest -q $(ALONE)

## bench: the benchmarks of BENCH.md at --scale small (SCALE=full for the README figures).
SCALE ?= small
bench: $(VENV)/.dev services wrk
	$(BIN)/python -m bench --scale $(SCALE)

# Debian's wrk, the load generator of ingest_track.
wrk:
	@bash scripts/ensure-wrk.sh

clean:
	rm -rf $(VENV) var $(SDK)/node_modules
