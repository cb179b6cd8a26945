# Thin targets over uv, npm and the carebridge CLI. `make run` and `make test` are the quick start.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
VENDOR_STAMP := src/carebridge/web/static/vendor/.built

.PHONY: run test lint format typecheck assets bench worker migrate check clean uv

run: uv $(VENDOR_STAMP)  ## Serve CareBridge on http://localhost:8000 (embedded PostgreSQL, demo data)
	$(UV) run --frozen carebridge serve --demo

test: uv $(VENDOR_STAMP)  ## Run the test suite
	$(UV) run --frozen pytest

lint: uv typecheck  ## ruff lint and format check, mypy strict on src/
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

typecheck: uv
	$(UV) run --frozen mypy

format: uv
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

assets:  ## Install the pinned browser libraries and copy them into the static folder
	npm ci --ignore-scripts --no-audit --no-fund
	node scripts/copy-assets.mjs

$(VENDOR_STAMP): package.json package-lock.json scripts/copy-assets.mjs
	$(MAKE) assets

bench: uv  ## Benchmarks (by hand, never in CI)
	$(UV) run --frozen python -m bench $(BENCH)

worker: uv
	$(UV) run --frozen carebridge worker

migrate: uv
	$(UV) run --frozen carebridge migrate

check: uv
	$(UV) run --frozen carebridge check

uv:  ## Install uv when it is missing
	@command -v $(UV) >/dev/null 2>&1 || python3 -m pip install --user --quiet uv

clean:
	rm -rf node_modules src/carebridge/web/static/vendor .pytest_cache .mypy_cache .ruff_cache
