# Paddock. `make run` starts it on an embedded default; `make test` runs the whole suite.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
DATA := .paddock
PADDOCK_PORT ?= 8000
PADDOCK_RAY_GCS_PORT ?= 6380
PADDOCK_RAY_DASHBOARD_PORT ?= 8265
export PADDOCK_PORT PADDOCK_RAY_GCS_PORT PADDOCK_RAY_DASHBOARD_PORT

# What the test suite talks to (this machine kind runs PostgreSQL and Redis on loopback).
TEST_ENV := PADDOCK_ENV=test \
	DATABASE_URL=$${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/paddock} \
	REDIS_URL=$${TEST_REDIS_URL:-redis://127.0.0.1:6379/1}

.PHONY: help run test bench lint typecheck frontend schema venv cli node chromium clean

help:
	@echo "make run    - install what is missing and start Paddock on http://127.0.0.1:$(PADDOCK_PORT)"
	@echo "make test   - the whole suite (lint, types, checks, pytest, frontend, browser)"
	@echo "make bench  - the benchmarks in tests/perf"
	@echo "make cli    - put the paddock command on your PATH (make run does it too)"

# --- installation ------------------------------------------------------------------------
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,recipes]'
	touch $@

venv: $(VENV)/.installed

# `paddock` on the PATH, the way pip --user and pipx do it: a link in ~/.local/bin when that
# directory is on PATH and holds no other paddock (a link an earlier `make cli` made, from this
# checkout or another, is replaced). Otherwise it prints the exact command to use. Nothing
# outside the checkout changes unless ~/.local/bin is on PATH already.
cli:
	@bin="$(CURDIR)/$(VENV)/bin/paddock"; dir="$$HOME/.local/bin"; link="$$dir/paddock"; \
	found="$$(command -v paddock || true)"; \
	test -x "$$bin" || { echo "paddock: $$bin is not installed yet (make venv)"; exit 1; }; \
	if [ -n "$$found" ] && [ "$$(readlink -f "$$found")" = "$$(readlink -f "$$bin")" ]; then \
	  echo "paddock: on your PATH ($$found)"; \
	elif case ":$$PATH:" in *":$$dir:"*) true;; *) false;; esac \
	    && { [ -z "$$found" ] || [ "$$found" = "$$link" ]; } && { [ ! -e "$$link" ] || case "$$(readlink "$$link")" in */$(VENV)/bin/paddock) true;; *) false;; esac; }; then \
	  mkdir -p "$$dir" && ln -sfn "$$bin" "$$link" && echo "paddock: on your PATH ($$link -> $$bin)"; \
	else \
	  echo "paddock: not on your PATH$${found:+ (another one is: $$found)}. Run it as $(VENV)/bin/paddock," \
	    "or first: export PATH=\"$(CURDIR)/$(VENV)/bin:\$$PATH\""; \
	fi

frontend/node_modules/.installed: frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	touch $@

node: frontend/node_modules/.installed

chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# --- build -------------------------------------------------------------------------------
$(DATA):
	mkdir -p $(DATA)

schema: venv $(DATA)
	$(TEST_ENV) $(PY) manage.py spectacular --file $(DATA)/openapi.yaml --validate --fail-on-warn

frontend: node
	cd frontend && npm run build

# --- run ---------------------------------------------------------------------------------
run: venv frontend $(DATA)
	@$(MAKE) --no-print-directory cli
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py bootstrap_demo --cluster-address http://127.0.0.1:$(PADDOCK_RAY_DASHBOARD_PORT) --local-head-token
	$(PY) manage.py bootstrap_recipe
	PADDOCK_API_URL=$${PADDOCK_API_URL:-http://127.0.0.1:$(PADDOCK_PORT)} $(PY) manage.py runlocal

# --- test --------------------------------------------------------------------------------
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy apps controlplane paddock

test: venv node chromium lint typecheck schema
	$(TEST_ENV) $(PY) manage.py check --fail-level WARNING
	$(TEST_ENV) $(PY) manage.py makemigrations --check --dry-run
	cd frontend && PADDOCK_SCHEMA=../$(DATA)/openapi.yaml npm run check:api
	cd frontend && npm run typecheck && npm test && npm run build
	$(TEST_ENV) $(PY) -m pytest

bench: venv
	$(TEST_ENV) $(PY) -m pytest tests/perf -p no:cacheprovider -s -q --benchmarks

clean:
	rm -rf $(VENV) frontend/node_modules frontend/dist
