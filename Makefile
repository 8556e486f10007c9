# Two commands on a fresh machine: `make demo` (the main job) and `make test`.
# Every target installs what it needs first; nothing relies on a hand-made setup.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat Pipfile.lock 2>/dev/null | sha256sum | cut -c1-12)

ENVIRONMENT_SUFFIX ?= dev
export ENVIRONMENT_SUFFIX
STACK_DIR := cdktf.out/stacks/tap-stack-$(ENVIRONMENT_SUFFIX)

# The machine's pip.conf adds local mirrors that warn about every package they lack; PyPI is the source
# of truth, so pip runs without that file.
PIP := PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 $(PY) -m pip

.PHONY: help install synth package unit checkov integration test demo up down status bench clean

help:
	@echo "make demo          deploy the pipeline on a local AWS emulator and run example traffic"
	@echo "make test          unit tests, checkov, then integration tests against a fresh local deploy"
	@echo "make synth         synthesize $(STACK_DIR)/cdk.tf.json"
	@echo "make up / down     deploy locally in the background (writes outputs.json) / tear down"
	@echo "make bench         benchmark suite (JSON lines; results in docs/BENCHMARKS.md)"

install: $(STAMP)

# Installs exactly what Pipfile.lock pins (pipenv only exports the lock; pip installs it).
$(STAMP): Pipfile.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip==25.3 pipenv==2026.10.3
	$(VENV)/bin/pipenv requirements --dev > $(VENV)/requirements.lock.txt
	$(PIP) install --quiet -r $(VENV)/requirements.lock.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

synth: install
	$(PY) tap.py
	@echo "synthesized $(STACK_DIR)/cdk.tf.json"

package: install
	$(PY) scripts/package_lambdas.py

unit: install
	$(PY) -m pytest tests/unit -q

checkov: synth
	bash scripts/run_checkov.sh $(STACK_DIR)

# The suite synthesizes and deploys its own `itest` stack (or reads OUTPUTS_FILE for a real deployment).
integration: install
	$(PY) -m pytest tests/integration -q

test: unit checkov integration

demo: synth
	$(PY) scripts/demo.py $(DEMO_ARGS)

up: synth
	$(PY) -m lib.local up

down: install
	$(PY) -m lib.local down

status: install
	$(PY) -m lib.local status

bench: synth
	$(PY) -m bench

clean:
	rm -rf cdktf.out build .local outputs.json .pytest_cache
