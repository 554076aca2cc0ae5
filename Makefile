# Matchdesk. `make demo` brings the whole thing up; `make test` runs the suite. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Tests keep their own Redis database and Celery queue, apart from a running demo, and boto3 points at a closed
# port unless a test names its own endpoint (the emulator it started).
TEST_ENV := REDIS_URL=redis://127.0.0.1:6379/1 CELERY_QUEUE=matchdesk-test CACHE_KEY_PREFIX=matchdesk-test \
  AWS_ENDPOINT_URL_CUSTOMER_PROFILES=http://127.0.0.1:9

.PHONY: venv env services demo stop test test-fast e2e bench lint fmt migrate

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements-dev.txt -c constraints.txt
	touch $@

env: venv
	@$(PY) scripts/bootstrap_env.py

services:
	@bash scripts/services.sh

migrate: env services
	@$(PY) scripts/ensure_db.py
	@$(PY) manage.py migrate --noinput -v 0

demo: migrate
	@bash scripts/demo.sh

stop:
	@bash scripts/stop.sh

test: migrate
	@bash scripts/ensure_chromium.sh
	@bash scripts/ensure_axe.sh
	$(TEST_ENV) $(PY) -m pytest $(PYTEST_ARGS)

test-fast: migrate
	$(TEST_ENV) $(PY) -m pytest -m "not e2e and not slow" $(PYTEST_ARGS)

bench: migrate
	$(PY) -m bench $(BENCH_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
