# doudi — the two set-up commands are `make run` and `make test`; both build the virtualenv.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# NATIVE=0 keeps the roll's hot path pure Python (no mypyc build; see ops/native.py).
NATIVE ?= 1

.PHONY: install native run test lint format typecheck bench clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

# Compiles the roll's hot path with mypyc when its sources changed (a no-op otherwise).
native: $(STAMP)
ifeq ($(NATIVE),0)
	$(BIN)/python -m ops.native clean
else
	$(BIN)/python -m ops.native build
endif

run: native
	mkdir -p var
	$(BIN)/doudi demo --if-empty
	$(BIN)/doudi serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Test files run on this many worker processes (pytest-xdist; auto: one per core), each file on
# one worker.
WORKERS ?= auto
# The tests of the compiled modules (ops/native.py MODULES and C_MODULES): the roll's rules, lines
# and view, and the log's verification on the accelerator.
NATIVE_TESTS := tests/unit tests/property tests/api/test_rolls_api.py \
	tests/api/test_retroactivity_api.py tests/integration/test_tlog_tamper.py

# Two passes: the whole suite with the compiled modules' Python source under coverage, held to
# pyproject's floor; then, where `make native` built them, the compiled modules' tests on the build.
test: lint native
	DOUDI_PURE_PYTHON=1 $(BIN)/pytest -n $(WORKERS) --dist loadfile --cov --cov-report=term:skip-covered
ifneq ($(NATIVE),0)
	$(BIN)/pytest -n $(WORKERS) --dist loadfile $(NATIVE_TESTS)
endif

bench: native
	$(BIN)/python -m ops.bench.import_bench

clean:
	test ! -x $(BIN)/python || $(BIN)/python -m ops.native clean
	rm -rf $(VENV) var build .pytest_cache .mypy_cache .ruff_cache
