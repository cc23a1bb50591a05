# fraudcal operator interface. Every target installs the virtualenv first (uv, with
# --compile-bytecode: without .pyc files every Airflow process imports ~3x slower).
#
# Services: FRAUD_DB_URL / REDIS_URL if set; else PostgreSQL 127.0.0.1:5432 and Redis
# 127.0.0.1:6379 if they answer; else throwaway servers (FRAUDCAL_EMBEDDED=1 forces them).

SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
WITH_SERVICES := $(PY) scripts/services.py run --
PYTEST_ARGS ?=
CELERY_WORKERS ?= 2

export PYTHONPATH := $(CURDIR)/include:$(CURDIR)/plugins:$(CURDIR)

.PHONY: install test lint demo schema bench report-png airflow airflow-celery requirements clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(UV) pip install --python $(PY) --compile-bytecode --quiet -r requirements.txt -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed  ## create .venv with every pinned dependency

lint: install  ## ruff, including the AIR3 Airflow 3 rules
	$(VENV)/bin/ruff check .

test: lint  ## lint, then every test tier against real PostgreSQL and Redis
	$(PY) -m pytest $(PYTEST_ARGS)

demo: install  ## the whole daily calibration on a synthetic XGBoost-scored log
	$(WITH_SERVICES) $(PY) scripts/demo.py

schema: install  ## apply migrations (fraudcal schema + dev prediction logs), idempotent
	$(WITH_SERVICES) $(PY) scripts/schema.py

bench: install  ## performance against the machine's limits, measured in the same run
	$(WITH_SERVICES) $(PY) scripts/bench.py

airflow: install  ## a local Airflow 3 (api-server, scheduler, dag-processor, triggerer) over these DAGs
	$(WITH_SERVICES) $(PY) scripts/airflow_local.py

airflow-celery: install  ## the same on the CeleryExecutor: a private Redis broker and CELERY_WORKERS (2) workers
	$(WITH_SERVICES) $(PY) scripts/airflow_local.py --celery-workers $(CELERY_WORKERS)

report-png: install  ## the newest coverage report rendered to PNG in headless Chromium
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	$(PY) scripts/screenshot_report.py

requirements:  ## re-pin requirements.txt and requirements-dev.txt from their .in files
	$(UV) pip compile requirements.in -o requirements.txt --python-version 3.11
	$(UV) pip compile requirements-dev.in -o requirements-dev.txt --python-version 3.11

clean:
	rm -rf $(VENV) artifacts
