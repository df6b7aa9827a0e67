# Kumppani: `make run` starts the demo, `make test` runs every test. Both install what they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint bench mutate install services browser-deps nginx clean lock

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Kumppani needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
	@touch $@

install: $(STAMP)

# The demo's invite links and the allowed origin follow the port (unless KUMPPANI_BASE_URL is set).
run: export KUMPPANI_BASE_URL ?= http://$(if $(filter 0.0.0.0,$(HOST)),127.0.0.1,$(HOST)):$(PORT)
run: install
	$(VENV)/bin/kumppani migrate
	$(VENV)/bin/kumppani demo
	$(VENV)/bin/kumppani serve --host $(HOST) --port $(PORT)

services:
	@bash .ci/services.sh

browser-deps:
	@bash .ci/browser-deps.sh

nginx:
	@bash .ci/nginx.sh

test: install services browser-deps nginx
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# Planted breaks of the security- and privacy-critical functions: each must make a test fail.
mutate: install services
	$(PY) tests/mutate.py $(MUTATE_ARGS)

bench: install services nginx
	$(PY) -m bench.run $(BENCH_ARGS)

# Refresh the pinned versions after changing pyproject.toml's dependencies.
lock:
	$(PY) -m pip freeze --exclude-editable | grep -v '^kumppani' > requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-output
