# Two commands matter: `make run` and `make test`. Everything installs into .venv; the web UI
# is built from web/ (npm ci from the committed lockfile) into src/attune/webui/static/.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
WEB := web
UI_BUILT := src/attune/webui/static/index.html
UI_SOURCES := $(shell find $(WEB)/src -type f 2>/dev/null) $(WEB)/index.html $(WEB)/vite.config.ts \
	$(WEB)/tsconfig.json $(WEB)/package-lock.json

.PHONY: install action-user ui run test lint bench clean
# A worker running as root runs action processes as this unprivileged user (see README,
# "Isolation"); the Docker image creates it too. A concurrent `make` may have just created it.
ACTION_USER ?= attune-action

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,lint]'
	touch $@

action-user:
	@if [ "$$(id -u)" = 0 ] && ! id -u $(ACTION_USER) >/dev/null 2>&1; then \
		useradd --system --create-home --shell /usr/sbin/nologin $(ACTION_USER) || id -u $(ACTION_USER); \
	fi

$(WEB)/node_modules/.package-lock.json: $(WEB)/package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: the web UI needs Node.js >= 20 and npm"; exit 2; }
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error

$(UI_BUILT): $(WEB)/node_modules/.package-lock.json $(UI_SOURCES)
	cd $(WEB) && npm run --silent build

ui: $(UI_BUILT)

install: $(BIN)/.installed action-user ui

# The embedded stack (Temporal dev server + Web UI, API + web UI, orchestrator, one worker per
# runtime), then one example workflow; keeps serving until Ctrl-C.
run: install
	$(BIN)/attune up --demo examples.single_echo

test: install
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .attune $(WEB)/node_modules src/attune/webui/static
