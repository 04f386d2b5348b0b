# kalshi-mm: the two commands are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
DATA_DIR ?= var
PORT ?= 8765
DASH_PORT ?= 8080

.PHONY: run test bench lint venv test-deps browser clean exchange

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(TEST_STAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install -q -e '.[test]'
	touch $@

venv: $(STAMP)

test-deps: $(TEST_STAMP) browser

# Debian's chromium drives the dashboard tests through Playwright (no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium for the browser tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# Local exchange + paper-trading market maker + dashboard; Ctrl-C stops all three.
run: $(STAMP)
	$(BIN)/kmm paper --data-dir $(DATA_DIR) --port $(PORT) --dashboard-port $(DASH_PORT)

exchange: $(STAMP)
	$(BIN)/kmm exchange --port $(PORT) --keys-dir $(DATA_DIR)/keys

test: test-deps
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python -m benchmarks

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
