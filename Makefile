# fraudcal operator interface. Every target installs the virtualenv first (uv, with
# --compile-bytecode: without .pyc files every Airflow process imports ~3x slower).
#
# Services (fraudcal_dev.services): FRAUD_DB_URL / REDIS_URL if set and scratch (marked, or
# FRAUDCAL_SCRATCH=1; otherwise refused); else a database the command creates and marks on the
# PostgreSQL at 127.0.0.1:5432 if it answers, else a throwaway PostgreSQL (FRAUDCAL_EMBEDDED=1
# forces it); Redis without REDIS_URL is always a throwaway redis-server. The tests do the same
# in tests/conftest.py. `make schema` alone may run on any database: fraudcal's own schema only.

SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
WITH_SERVICES := $(PY) -m fraudcal_dev.services run --
PYTEST_ARGS ?=
CELERY_WORKERS ?= 2
# `make schema DEV_TABLES=1`: also the dev prediction logs (on a scratch database only).
DEV_TABLES ?=

.PHONY: install test lint demo schema bench report-png airflow airflow-celery requirements clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(UV) pip install --python $(PY) --compile-bytecode --quiet -r requirements.txt -r requirements-dev.txt
	touch $@

# The project on the virtualenv's path, as an editable install would put it: a .pth file in
# site-packages whose lines (include/, plugins/, dev/ of this checkout) the venv's python adds
# to sys.path at startup. So `import fraudcal`, `fraudcal_airflow` and `fraudcal_dev` work in
# scripts, tests and every Airflow process of `make airflow` (all run the venv's python), with
# no PYTHONPATH and no sys.path editing. Rewritten after each dependency install and when this
# Makefile changes; the stamp keeps the target independent of the python version in the path.
$(VENV)/.project-on-path: $(VENV)/.installed Makefile
	printf '%s\n' "$(CURDIR)/include" "$(CURDIR)/plugins" "$(CURDIR)/dev" \
		> "$$($(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/fraudcal.pth"
	touch $@

install: $(VENV)/.installed $(VENV)/.project-on-path  ## create .venv with every pinned dependency

lint: install  ## ruff, including the AIR3 Airflow 3 rules
	$(VENV)/bin/ruff check .

test: lint  ## lint, then every test tier against real PostgreSQL and Redis
	$(PY) -m pytest $(PYTEST_ARGS)

demo: install  ## the whole daily calibration on a synthetic XGBoost-scored log
	$(WITH_SERVICES) $(PY) scripts/demo.py

schema: install  ## apply fraudcal's own migrations, idempotent; DEV_TABLES=1 adds the dev prediction logs (scratch only)
ifeq ($(DEV_TABLES),1)
	$(PY) -m fraudcal_dev.services run --postgres-only -- $(PY) scripts/schema.py --dev-tables
else ifeq ($(DEV_TABLES),)
	$(PY) -m fraudcal_dev.services run --postgres-only --any-given-database -- $(PY) scripts/schema.py
else
	@echo "DEV_TABLES must be 1 or unset, got '$(DEV_TABLES)'" >&2; exit 2
endif

bench: install  ## performance against the machine's limits, measured in the same run
	$(WITH_SERVICES) $(PY) scripts/bench.py

# make airflow's api-server port and admin password. The password, once set or generated, is kept
# with the rest of its state in artifacts/airflow/home and reused by the next start.
AIRFLOW_PORT ?= 8080
AIRFLOW_PASSWORD ?=
export AIRFLOW_PORT AIRFLOW_PASSWORD

airflow: install  ## a local Airflow 3 (api-server, scheduler, dag-processor, triggerer) over these DAGs
	$(WITH_SERVICES) $(PY) scripts/airflow_local.py

airflow-celery: install  ## the same on the CeleryExecutor: a private Redis broker and CELERY_WORKERS (2) workers
	$(WITH_SERVICES) $(PY) scripts/airflow_local.py --celery-workers $(CELERY_WORKERS)

report-png: install  ## the newest coverage report as PNG, sized to its page, in an installed headless Chromium/Chrome (CHROME=... to choose one)
	$(PY) scripts/screenshot_report.py

requirements:  ## re-pin requirements.txt and requirements-dev.txt from their .in files
	$(UV) pip compile requirements.in -o requirements.txt --python-version 3.11
	$(UV) pip compile requirements-dev.in -o requirements-dev.txt --python-version 3.11

clean:
	rm -rf $(VENV) artifacts
