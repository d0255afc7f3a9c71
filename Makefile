# Two commands on a fresh machine: `make run` (or `make demo`) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/data/dagster_home

.PHONY: run demo backfill sql test lint bench clean docs-picture

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

## Start the sample sources, materialize every asset, serve the UI on :3000 and the API on :8000
## (Ctrl-C stops). The terminal ends with their addresses; the logs go to data/logs/ (LOG_DIR),
## or to the terminal with VERBOSE=1.
run: $(STAMP)
	$(BIN)/python -m orchestration.cli run$(if $(filter-out 0,$(VERBOSE)), --verbose)

## Materialize every asset headless, then print each table with its row count.
demo: $(STAMP)
	$(BIN)/python -m orchestration.cli demo

## Backfill the sales days FROM..TO (YYYY-MM-DD) in one run, through the running UI (make run).
backfill: $(STAMP)
	@$(BIN)/python -m orchestration.cli backfill --from "$(FROM)" --to "$(TO)"

## DuckDB over the lake: a view per Delta table, the warehouse attached read-only as `warehouse`
## (docs/lake.md). Interactive, or Q="SELECT ..." runs one query and prints the result.
sql: $(STAMP)
	@$(BIN)/python -m orchestration.lake_sql $(if $(Q),-c "$(Q)")

## The whole suite (Postgres tests need 127.0.0.1:5432; under CI=true they must run). It fails
## when the tests changed the checkout (tests/tree_guard.py).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	PYTEST_TREE_CHECK=1 $(BIN)/python -m pytest -n 3 -q

## docs/RELIABILITY.md: the fault matrix, hostile input, security and the soak, bounded;
## RELIABILITY_FULL=1 runs the full-size variants (1M-row partitions, a longer fuzz, a 60 s soak).
.PHONY: reliability
reliability: $(STAMP)
	$(BIN)/python -m pytest -q tests/test_faults.py tests/test_faults_processes.py \
		tests/test_hostile_input.py tests/test_serving_fuzz.py tests/test_security.py \
		tests/test_soak.py

## Refresh the README's picture of the asset graph (docs/asset-graph.png) from the UI test,
## which itself writes only outside the checkout.
docs-picture: $(STAMP)
	mkdir -p data
	ASSET_GRAPH_PNG=$(CURDIR)/data/asset-graph.png $(BIN)/python -m pytest -q tests/test_ui.py
	cp data/asset-graph.png docs/asset-graph.png

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## Benchmarks with their baselines, printed side by side (about 15 minutes in all).
bench: $(STAMP)
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/backfill.py
	$(BIN)/python bench/serving.py --json bench/results/serving.json
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/lake.py
	$(BIN)/python bench/report.py

clean:
	rm -rf data .pytest_cache
