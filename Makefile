# Chronicle: `make run` starts the platform locally, `make test` runs the whole suite.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install lock run test fuzz bench lint contracts clean

# The locked versions (hash-checked), then the project itself.
$(STAMP): pyproject.toml requirements-dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade 'pip<26'  # the lock brings setuptools
	$(BIN)/pip install -q --require-hashes --no-deps -r requirements-dev.lock
	$(BIN)/pip install -q -e '.[dev]'  # resolves nothing new while the lock is complete
	touch $(STAMP)

install: $(STAMP)

# After changing a pin in pyproject.toml: re-resolve both locks from PyPI (the image uses requirements.lock,
# `make install` requirements-dev.lock); tests/deploy/test_dependencies.py checks they agree with pyproject.toml.
LOCK := PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= $(BIN)/pip-compile -q --unsafe-package pip --generate-hashes \
	--strip-extras --no-emit-index-url --no-emit-find-links --index-url https://pypi.org/simple
lock: $(STAMP)
	$(LOCK) -o requirements.lock pyproject.toml
	$(LOCK) --extra dev -o requirements-dev.lock pyproject.toml

run: $(STAMP)
	$(BIN)/chronicle run --demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The gateway's API fuzzed with schemathesis from /openapi.json: every phase, thousands of cases (make test runs
# a bounded run of the same test).
fuzz: $(STAMP)
	GATEWAY_FUZZ_PHASES=examples,coverage,fuzzing GATEWAY_FUZZ_EXAMPLES=50 $(BIN)/python -m pytest -s \
		tests/gateway/test_fuzz.py $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python -m bench $(if $(FULL),--full,--quick) $(BENCH)

contracts: $(STAMP)
	$(BIN)/chronicle contracts
	$(BIN)/chronicle errors
	$(BIN)/python -m shared.client_proxies  # the Python client's typed proxies (clients/python)

lint: $(STAMP)
	$(BIN)/ruff check shared services tests bench clients examples

clean:
	rm -rf var .pytest_cache
