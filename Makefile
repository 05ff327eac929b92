# The README's two commands: `make dev` and `make test`. Both install from requirements.lock first, and the web
# app (web/, Vue) from web/package-lock.json (`npm ci`): Node 20.19+ and npm are the only other requirements.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install dev test lint typecheck unit bench lock clean node-check web web-dev web-test web-api chromium

# Never let Playwright fetch a browser: the browser tests drive Debian's /usr/bin/chromium.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
WEB_DEPS := web/node_modules/.package-lock.json
WEB_STAMP := web/dist/.built
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) \
	web/index.html web/vite.config.ts web/tsconfig.json web/package.json web/package-lock.json

$(STAMP): requirements.lock pyproject.toml | node-check
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

node-check:
	@command -v node >/dev/null && command -v npm >/dev/null || { \
		echo "PakLog's web app needs Node 20.19 or newer and npm (e.g. apt-get install nodejs npm); then run make again."; \
		exit 1; }
	@node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' || { \
		echo "PakLog's web app needs Node 20.19 or newer; this is $$(node --version)."; exit 1; }

# npm writes web/node_modules/.package-lock.json on every install: the stamp of `npm ci`.
$(WEB_DEPS): web/package.json web/package-lock.json | node-check
	cd web && npm ci --no-audit --no-fund
	touch $@

# The app is built again only when its sources or its lock changed (Vite empties dist first).
$(WEB_STAMP): $(WEB_DEPS) $(WEB_SOURCES)
	cd web && npm run build
	touch $@

web: $(WEB_STAMP)

# Vite's dev server on http://127.0.0.1:5173 with /api proxied to the gateway (PAKLOG_GATEWAY_URL, default :8000).
web-dev: $(WEB_DEPS)
	cd web && npm run dev

web-test: $(WEB_DEPS)
	cd web && npm test

# After a change to the gateway's API: the committed OpenAPI document and the types generated from it.
web-api: install $(WEB_DEPS)
	$(BIN)/python -m gateway.web_api
	cd web && npm run api-types

# The browser tests' Chromium, from Debian, when it is missing (CI runs as root, without stdin).
chromium:
	@test -x /usr/bin/chromium || { \
		test "$$(id -u)" = 0 || { echo "The browser tests need Debian's Chromium: apt-get install chromium (as root)."; exit 1; }; \
		apt-get update </dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium </dev/null; }

dev: install web
	$(BIN)/paklog dev

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint web-test web chromium
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
	rm -rf $(VENV) .paklog .pytest_cache .mypy_cache .ruff_cache .artifacts web/node_modules web/dist
