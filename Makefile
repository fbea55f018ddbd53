# The front door: `make demo` and `make test` work on a fresh machine with no network.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The [distributed] extra (DuckLake, Postgres, Celery), installed on top only for the targets that need it.
DISTRIBUTED_STAMP := $(VENV)/.installed-distributed
DAGSTER_HOME := $(CURDIR)/data/dagster_home
DEMO_RANGE := 2024-06-01...2024-06-07
OFFLINE := GMGBD_PROFILE=offline DAGSTER_HOME=$(DAGSTER_HOME)
# dg checks that the project's virtual environment is the active one.
DG := VIRTUAL_ENV=$(CURDIR)/$(VENV) $(BIN)/dg

.PHONY: demo test test-e2e dev lint install install-distributed demo-distributed test-distributed bench-distributed clean-data

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

$(DISTRIBUTED_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev,distributed]'
	touch $(DISTRIBUTED_STAMP)

install-distributed: $(DISTRIBUTED_STAMP)

demo: $(STAMP)
	mkdir -p $(DAGSTER_HOME)
	$(OFFLINE) $(DG) launch --assets '*' --partition-range $(DEMO_RANGE)
	$(OFFLINE) $(BIN)/python -m gmgbd_assets.summary

test: $(STAMP)
	$(BIN)/ruff check gmgbd_assets gmgbd_assets_tests benchmarks data/sample
	$(BIN)/python -m pytest -q

# The end-to-end tests (faults, kills, parallel runs, the browser): minutes each, so CI runs them as their own step.
test-e2e: $(STAMP)
	$(BIN)/python -m pytest -q -m e2e

# Past one machine, on this one (docs/deployment.md): Postgres and Redis on loopback, two Celery workers (queues
# dagster and gpu), the daemon; the sample backfilled one date per run into DuckLake under data/distributed/.
demo-distributed: $(DISTRIBUTED_STAMP)
	$(BIN)/python -m gmgbd_assets.deploy.demo $(DEMO_RANGE) --root data/distributed

test-distributed: $(DISTRIBUTED_STAMP)
	$(BIN)/python -m pytest -q -m distributed

bench-distributed: $(DISTRIBUTED_STAMP)
	$(BIN)/python -m benchmarks.distributed $(DEMO_RANGE)

dev: $(STAMP)
	mkdir -p $(DAGSTER_HOME)
	$(OFFLINE) $(DG) dev

lint: $(STAMP)
	$(BIN)/ruff check gmgbd_assets gmgbd_assets_tests benchmarks data/sample
	$(BIN)/ruff format --check gmgbd_assets gmgbd_assets_tests benchmarks data/sample

clean-data:
	rm -rf data/gmgbd.duckdb data/gmgbd.duckdb.wal data/images data/models data/exports data/dagster_home/storage \
		data/dagster_home/history data/dagster_home/schedules data/dagster_home/logs data/distributed
