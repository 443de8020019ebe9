# The two commands a new user needs: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
DURATION ?= 60
PYTEST_ARGS ?=

.PHONY: demo test lint venv clean dashboards

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamp files make a second run skip the install unless the pins changed.
$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

venv: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/otc-agent demo --duration $(DURATION)

test: $(VENV)/.installed-test
	./scripts/ensure-prometheus
	$(BIN)/ruff check agent onchain tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check agent onchain tests benchmarks
	$(BIN)/ruff format --check agent onchain tests benchmarks
	$(BIN)/mypy

# The Grafana dashboards are generated from agent/dashboards; a test fails when they drift.
dashboards: $(VENV)/.installed
	$(BIN)/python -m agent.dashboards grafana/dashboards

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
