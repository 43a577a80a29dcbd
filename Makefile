# ringback: two commands do everything. `make run` starts the local stack; `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
TOOLS := .venv-tools
PY := $(VENV)/bin/python
PORT_API ?= 3000
PORT_MOTO ?= 5000
PORT_WEBITEL ?= 8801

.PHONY: run test lint typecheck template unit integration e2e bench fire import-customers browser clean help demo build
# Talk to (or start) a stack whose state file is elsewhere: make fire STATE_FILE=.local/other.json
STATE_ARG = $(if $(STATE_FILE),--state-file '$(STATE_FILE)')

help:
	@echo "make run        start the local stack (moto server, local API gateway, scheduler, Webitel sandbox)"
	@echo "make test       install what is needed and run every check (lint, types, template, tests)"
	@echo "make bench      run the benchmarks under bench/ (BENCH_ARGS=--quick for a short run)"
	@echo "make fire SCHEDULE=CallbacksSchedule   fire one EventBridge schedule of the running stack"
	@echo "make demo       walk the whole loop on the running stack (status, callback, Webitel, hook, routing, cancel)"
	@echo "make build      sam validate --lint and sam build (says what to install when python3.13/Docker are missing)"

$(VENV)/.installed: requirements-dev.txt layers/ringback/requirements.txt pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $@

$(TOOLS)/.installed: requirements-tools.txt
	@test -d $(TOOLS) || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet -r requirements-tools.txt
	@touch $@

# axe-core (pinned in package.json / package-lock.json) for the console's accessibility check.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts --silent
	@touch $@

# Debian's Chromium for the widget's end-to-end tests (Playwright never downloads a browser here).
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  echo "installing Debian's chromium for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); \
	fi

# make run HOURS=template (real business hours), WEBITEL_URL=https://host/api WEBITEL_TOKEN=...
# (a real Webitel instead of the sandbox), OPERATOR_CONFIG=my-config.json (operator-config keys).
run: $(VENV)/.installed
	$(PY) -m devstack run --api-port $(PORT_API) --moto-port $(PORT_MOTO) --webitel-port $(PORT_WEBITEL) $(STATE_ARG) \
	  $(if $(HOURS),--hours $(HOURS)) $(if $(WEBITEL_URL),--webitel-url '$(WEBITEL_URL)') \
	  $(if $(OPERATOR_CONFIG),--operator-config '$(OPERATOR_CONFIG)') $(if $(SEED_CAMPAIGN),--seed-campaign)

fire: $(VENV)/.installed
	@test -n "$(SCHEDULE)" || (echo "usage: make fire SCHEDULE=<schedule name from template.yaml>"; exit 2)
	$(PY) -m devstack fire $(SCHEDULE) $(STATE_ARG)

demo: $(VENV)/.installed
	$(PY) -m devstack demo $(STATE_ARG) $(if $(PHONE),--phone '$(PHONE)')

build: $(TOOLS)/.installed
	@bash devstack/tools/build.sh

import-customers: $(VENV)/.installed
	$(VENV)/bin/ringback import customers $(FILE) $(STATE_ARG)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy --strict layers/ringback/ringback
	@# Each function alone, with its own folder on the path, as Lambda imports it.
	@set -e; for d in functions/*/; do echo "mypy $$d"; MYPYPATH=layers/ringback:$$d $(VENV)/bin/mypy $$d*.py; done
	$(VENV)/bin/mypy devstack

template: $(TOOLS)/.installed
	$(TOOLS)/bin/cfn-lint template.yaml
	$(TOOLS)/bin/python devstack/tools/check_template.py template.yaml

test: $(VENV)/.installed $(TOOLS)/.installed browser node_modules/.installed
	$(MAKE) --no-print-directory lint typecheck template
	$(PY) -m pytest tests -q -p no:randomly -n 2 --dist loadgroup

unit: $(VENV)/.installed
	$(PY) -m pytest tests/unit -q

integration: $(VENV)/.installed
	$(PY) -m pytest tests/integration -q

e2e: $(VENV)/.installed browser node_modules/.installed
	$(PY) -m pytest tests/e2e -q

bench: $(VENV)/.installed
	@set -e; for b in bench/[!_]*.py; do case $$b in *benchlib.py) continue;; esac; echo "== $$b"; PYTHONPATH=layers/ringback:. $(PY) $$b $(BENCH_ARGS); done

clean:
	rm -rf $(VENV) $(TOOLS) .venv-sam .local .aws-sam test-artifacts node_modules
