# Two commands for a fresh machine with Python 3.11+, Node.js 20+ and make:
#   make run    a whole demo pay run on the local cloud
#   make test   every check (lint, types, each service, platform, end-to-end)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
SERVICES := $(sort $(wildcard services/*))

.PHONY: run test venv lint clean down

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv

$(VENV)/.installed: $(BIN)/python constraints.txt requirements-dev.txt $(wildcard */pyproject.toml services/*/pyproject.toml)
	$(BIN)/uv pip install --python $(BIN)/python --quiet -c constraints.txt \
		-r requirements-dev.txt -e "shared[infra]" -e "platform[local,infra,postgres]" \
		$(foreach s,$(SERVICES),-e $(s))
	touch $@

venv: $(VENV)/.installed

run: venv
	$(BIN)/payroll run --demo

test: venv
	$(BIN)/nox

lint: venv
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

down: venv
	$(BIN)/payroll local down

clean:
	rm -rf $(VENV) .nox .cdk-cache .local-cloud
