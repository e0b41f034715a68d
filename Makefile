# Chronicle: `make run` starts the platform locally, `make test` runs the whole suite.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test bench lint contracts clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade 'pip<26' 'setuptools<81'
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/chronicle run --demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python -m bench $(if $(FULL),--full,--quick) $(BENCH)

contracts: $(STAMP)
	$(BIN)/chronicle contracts

lint: $(STAMP)
	$(BIN)/ruff check shared services tests bench

clean:
	rm -rf var .pytest_cache
