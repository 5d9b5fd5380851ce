# Gatehouse. `make run` starts everything locally; `make test` runs the whole suite.
PYTHON ?= python3
# A failing command anywhere in a pipe fails its target (make chaos filters pytest's output).
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
VENV := .venv
BIN := $(VENV)/bin
# Parallel test lanes (tests/lanes.py): one per core and one more, as lanes wait on servers and subprocesses
# much of the time; each lane runs a whole test module at a time.
LANES ?= $(shell echo $$(( $$(nproc) + 1 )))

.PHONY: run test check image install services lint format bench scale load transfer chaos clean

run: install
	$(BIN)/gatehouse migrate
	$(BIN)/gatehouse dev

# mypy checks types while the lanes start (it needs a core for ~10 s, the lanes wait on services then);
# its report is printed after the tests', and either failing fails the target.
test: install services
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@types=$$(mktemp); $(BIN)/python -m mypy > $$types 2>&1 & mypy=$$!; \
	$(BIN)/python -m pytest -n $(LANES) --dist loadfile --no-loadscope-reorder; tests=$$?; \
	wait $$mypy; typed=$$?; echo "mypy:"; cat $$types; rm -f $$types; \
	exit $$(( tests != 0 || typed != 0 ))

# The fast lane for the edit-test loop: lint, then every test that needs no service processes, browser,
# fault injection or slow module of its own (tests/conftest.py marks them). `make test` runs everything.
check: install services
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -n $(LANES) --dist loadfile --no-loadscope-reorder -x -m "not stack and not browser and not faults and not slow and not image"

# The container images (deploy/Dockerfile) built on a local Debian base and run with podman: the stack from
# them, and deploy/compose.yaml with podman-compose (tests/test_container.py, test_compose.py). .ci/run runs
# it after `make test` wherever podman installs.
image: install services
	bash deploy/ensure-podman.sh
	$(BIN)/python -m pytest -m image tests/test_container.py tests/test_compose.py

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
	$(BIN)/python -m loadtest.console_bench
	$(BIN)/python -m loadtest.events_scale
	$(BIN)/python -m loadtest.scale $(SCALE_ARGS)

# The scale run alone: 10,000 apps x 102 rules and 1,000 live-update apps on one host (README: Capacity).
scale: install services
	command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	$(BIN)/python -m loadtest.scale $(SCALE_ARGS)

transfer: install services
	$(BIN)/python -m loadtest.transfer $(TRANSFER_ARGS)

# The fault suite at ten times its length (more kills, longer outages, a million bogus tokens); prints figures.
chaos: install services
	GATEHOUSE_CHAOS_SCALE=$${GATEHOUSE_CHAOS_SCALE:-10} $(BIN)/python -m pytest -s -q \
		tests/test_faults.py tests/test_read_limits.py tests/test_worker_queue.py \
		tests/test_capgo_stack.py tests/test_rollout_abuse.py tests/test_webhook_isolation.py 2>&1 | grep -v '^\[20\|^{'

load: install services
	$(BIN)/python -m loadtest.run $(LOAD_ARGS)

clean:
	rm -rf $(VENV) data
