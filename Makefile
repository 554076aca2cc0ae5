# Matchdesk. `make demo` brings the whole thing up; `make test` runs the suite. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Tests keep their own Redis database, Celery queue and closed AWS endpoint: the pytest configuration names
# reviewapp/settings_test.py, so plain `pytest` runs exactly as `make test` does.
# mypy's Django plugin imports the settings; it needs their required names, not a database or a .env.
MYPY_ENV := READ_DOT_ENV=false SECRET_KEY=mypy-only AUDIT_HMAC_KEY=mypy-only \
  DATABASE_URL=postgres://127.0.0.1:5432/mypy REDIS_URL=redis://127.0.0.1:6379/0

.PHONY: venv env services demo stop test test-fast e2e bench lint typecheck fmt migrate

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
	@bash scripts/ensure_oidc_provider.sh
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: migrate
	$(PY) -m pytest -m "not e2e and not slow" $(PYTEST_ARGS)

bench: migrate
	$(PY) -m bench $(BENCH_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(MYPY_ENV) $(VENV)/bin/mypy

typecheck: venv
	$(MYPY_ENV) $(VENV)/bin/mypy

fmt: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
