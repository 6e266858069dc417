# Every target installs what it needs first (idempotent), so each works on a fresh clone.
PYTHON ?= python3.11
VENV := .venv
OUTPUT ?= retrain-output

.PHONY: install run test test-fast bench lock clean

install:
	PYTHON=$(PYTHON) ./tools/bootstrap.sh

run: install
	$(VENV)/bin/retrain run --output $(OUTPUT)

test: install
	$(VENV)/bin/python -m pytest -q

test-fast: install
	$(VENV)/bin/python -m pytest -q -m "not e2e"

bench: install
	$(VENV)/bin/python -m benchmarks.run

lock:
	PYTHON=$(PYTHON) ./tools/lock.sh

clean:
	rm -rf $(OUTPUT) .pytest_cache
