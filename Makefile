# Gatehouse. `make run` starts everything locally; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test install services lint format bench load transfer clean

run: install
	$(BIN)/gatehouse migrate
	$(BIN)/gatehouse dev

test: install services
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV) || { apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

services:
	bash deploy/ensure-services.sh

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format:
	$(BIN)/ruff format .

bench: install services
	command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	$(BIN)/python -m loadtest.bench

transfer: install services
	$(BIN)/python -m loadtest.transfer $(TRANSFER_ARGS)

load: install services
	$(BIN)/python -m loadtest.run $(LOAD_ARGS)

clean:
	rm -rf $(VENV) data
