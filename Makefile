# The two commands a new user needs: `make serve` and `make test`.
PYTHON ?= python3
# `make serve PORT=8080 STORE=postgresql://app@db/app` (a token comes from FACTSTR_TOKEN, as for `factstr serve`).
PORT ?= 7117
STORE ?= sqlite:///factstr.db
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-long test-python test-typescript typescript-deps lint serve bench bench-peers clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples tools
	$(BIN)/ruff format --check src tests bench examples tools
	$(BIN)/mypy

test-python: $(STAMP)
	$(BIN)/python -m pytest -q -m "not long"

# The Node dependencies of the TypeScript client (TypeScript, type definitions), from its package-lock.json.
typescript-deps:
	cd clients/typescript && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi

# The TypeScript client's tests start `.venv/bin/factstr serve`, hence $(STAMP).
test-typescript: $(STAMP) typescript-deps
	cd clients/typescript && npm test

# Every suite, even after one failed; the last line sums them all up (and says which were skipped, and why).
test: $(STAMP)
	$(BIN)/python tools/run_suites.py lint test-python test-typescript

test-long: $(STAMP)
	$(BIN)/python -m pytest -q -m long

serve: $(STAMP)
	$(BIN)/factstr serve --store '$(STORE)' --port '$(PORT)'

bench: $(STAMP)
	$(BIN)/python -m bench

# FACTSTR next to UmaDB and eventsourcing in one run (the peers are the optional `bench` extra, installed here).
BENCH_PEERS_ARGS ?= --stores memory,sqlite,postgres --events 200000 --writers 4 --repeat 5
bench-peers: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench --peers umadb,eventsourcing $(BENCH_PEERS_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
