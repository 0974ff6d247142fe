# ddd-transfer: the two commands are `make demo` and `make test`.
# Python 3.11: python3.11 if it is on PATH, else python3 (checked to be 3.11 or newer)
PYTHON ?= $(shell command -v python3.11 >/dev/null 2>&1 && echo python3.11 || echo python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP_PY := $(VENV)/.installed
STAMP_NODE := node_modules/.installed

.PHONY: test test-fast demo lint setup bench clean devhost

setup: $(STAMP_PY) $(STAMP_NODE)

$(STAMP_PY): requirements.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "need Python 3.11 or newer as $(PYTHON)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

$(STAMP_NODE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

test: lint
	$(PY) -m pytest

# lint, and the tests that need no storage emulator or host (plain Python, the orchestrator
# replayed in virtual time): seconds, for the edit-test loop; `make test` runs everything
test-fast: lint
	$(PY) -m pytest -m "not azurite" tests/shared tests/architecture \
		tests/orchestration/test_delivery_replay.py

lint: setup
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

demo: setup
	$(PY) -m demo

devhost: setup
	$(PY) -m devhost

bench: setup
	$(PY) bench/devhost_overhead.py
	$(PY) bench/delivery.py

clean:
	rm -rf $(VENV) node_modules .devhost .demo .ddd-local .pytest_cache .ruff_cache *.egg-info
