# Two commands matter: `make run` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install action-user run test lint bench clean
# A worker running as root runs action processes as this unprivileged user (see README,
# "Isolation"); the Docker image creates it too. A concurrent `make` may have just created it.
ACTION_USER ?= attune-action

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,lint]'
	touch $@

install: $(BIN)/.installed action-user

action-user:
	@if [ "$$(id -u)" = 0 ] && ! id -u $(ACTION_USER) >/dev/null 2>&1; then \
		useradd --system --create-home --shell /usr/sbin/nologin $(ACTION_USER) || id -u $(ACTION_USER); \
	fi

# The embedded stack (Temporal dev server + Web UI, API, orchestrator, one worker per runtime),
# then one example workflow; keeps serving until Ctrl-C.
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
	rm -rf $(VENV) .attune
