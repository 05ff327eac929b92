# The README's two commands: `make dev` and `make test`. Both install from requirements.lock first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install dev test lint typecheck unit bench lock clean

$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

dev: install
	$(BIN)/paklog dev

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

bench: install
	$(BIN)/paklog bench

# Re-pin after editing pyproject.toml (needs `uv` on PATH). requirements.lock (runtime + dev group) is what
# `make install` uses; requirements-runtime.lock is its runtime-only subset, pinned to the same versions,
# for the production image (no test tools there).
lock:
	uv pip compile pyproject.toml --generate-hashes --python-version 3.11 --no-header -q -o requirements-runtime.lock
	uv pip compile pyproject.toml --group dev -c requirements-runtime.lock --generate-hashes --python-version 3.11 --no-header -q -o requirements.lock

clean:
	rm -rf $(VENV) .paklog .pytest_cache .mypy_cache .ruff_cache
