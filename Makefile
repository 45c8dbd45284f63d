# secateurs — the two commands a new user needs are `make flow` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= configs/digits_mlp.toml

.PHONY: install flow test lint bench bitstream clean

install: $(STAMP)

# Re-install only when the dependency pins change; the project itself is editable.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

flow: install
	$(BIN)/secateurs flow --config $(CONFIG)

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/python -m compileall -q secateurs sw hw sim tests

bench: install
	$(BIN)/python -m bench

bitstream: install
	$(BIN)/secateurs bitstream --config $(CONFIG)

clean:
	rm -rf runs sim_build build .pytest_cache
