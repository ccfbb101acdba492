# Two commands matter: `make run` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install run test bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed

# The embedded stack (Temporal dev server + Web UI, API, orchestrator, one worker per runtime),
# then one example workflow; keeps serving until Ctrl-C.
run: install
	$(BIN)/attune up --demo examples.single_echo

test: install
	$(BIN)/pytest -q

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .attune
