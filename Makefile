# make setup | make demo | make test | make lint
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint format bench constraints clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/tunesmith demo

# One OpenMP thread from process start: the pinned values were measured so (torch's results
# depend on the pool it started with, not only on set_num_threads).
test: setup
	$(BIN)/lint-imports
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest tests

lint: setup
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts
	$(BIN)/lint-imports

format: setup
	$(BIN)/ruff format src tests scripts
	$(BIN)/ruff check --fix src tests scripts

bench: setup
	$(BIN)/tunesmith bench train --json runs/bench_train.json

# Freeze the exact versions that CI tested into constraints.txt.
constraints: setup
	$(BIN)/pip freeze --exclude-editable | grep -v '^torch==' > constraints.txt

clean:
	rm -rf runs .pytest_cache
