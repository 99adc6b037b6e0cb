# Credence: `make run` serves a development instance, `make test` runs every check.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000
# Test processes (pytest-xdist); each gets its own PostgreSQL database next to the given one.
PYTEST_WORKERS ?= 2

.PHONY: install run demo test lint typecheck pytest fuzz openapi fmt clean

# The independent verifiers the tests run (npm, pinned by tests/interop/package-lock.json);
# without Node those tests are skipped, saying so.
NODE_STAMP := tests/interop/node_modules/.installed-stamp

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

$(NODE_STAMP): tests/interop/package.json tests/interop/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error && touch $(NODE_STAMP); \
	else echo "npm not found: the tests that run npm verifiers will be skipped"; fi

install: $(STAMP) $(NODE_STAMP)

run: $(STAMP)
	@$(BIN)/credence db upgrade
	@KEY=$$($(BIN)/credence api-keys ensure-dev | tail -n 1) && \
	  echo "" && \
	  echo "Credence is starting on http://$(HOST):$(PORT)  (API docs: http://$(HOST):$(PORT)/docs)" && \
	  echo "Development admin API key: $$KEY" && \
	  echo "Try:  curl -H 'Authorization: Bearer $$KEY' http://$(HOST):$(PORT)/v1/audit/events" && \
	  echo ""
	@$(BIN)/credence serve --host $(HOST) --port $(PORT)

# A demo organisation in the same database `make run` serves (idempotent), and what to try.
demo: $(STAMP)
	@$(BIN)/credence demo --host $(HOST) --port $(PORT)

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy service credentials

pytest: $(STAMP) $(NODE_STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile --durations=20 $(PYTEST_ARGS)

# The long fuzz run: 200 examples per operation (the bounded run inside `make test` uses 4), on
# SQLite and, with CREDENCE_TEST_POSTGRES_URL set, PostgreSQL.
fuzz: $(STAMP)
	CREDENCE_FUZZ_EXAMPLES=$${CREDENCE_FUZZ_EXAMPLES:-200} $(BIN)/pytest tests/robustness/test_fuzz.py -v

openapi: $(STAMP)
	$(BIN)/credence openapi --output openapi/openapi.json

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
