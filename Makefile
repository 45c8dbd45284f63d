# secateurs — the two commands a new user needs are `make flow` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= configs/digits_mlp.toml
SUDO   := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: install browser icarus flow test test-fast lint bench bitstream clean

install: $(STAMP)

# Re-install only when the dependency pins change; the project itself is editable.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

flow: install
	$(BIN)/secateurs flow --config $(CONFIG)

test: install browser icarus
	$(BIN)/python -m pytest -q

# The inner loop: everything but the RTL, browser and FPGA tests (markers in pyproject.toml).
test-fast: install
	$(BIN)/python -m pytest -q -m "not rtl and not browser and not fpga"

# The report is tested in a real headless browser: Debian's chromium and its driver.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  echo "installing Debian chromium and chromium-driver for the report test"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver >/dev/null; }

# The second RTL simulator, Icarus Verilog: Debian's iverilog (vvp comes with it).
icarus:
	@command -v iverilog >/dev/null && command -v vvp >/dev/null || { \
	  echo "installing Debian iverilog for the Icarus Verilog tests"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq iverilog >/dev/null; }

lint: install
	$(BIN)/python -m compileall -q secateurs sw hw sim tests

bench: install
	$(BIN)/python -m bench

bitstream: install
	$(BIN)/secateurs bitstream --config $(CONFIG)

clean:
	rm -rf runs sim_build build .pytest_cache
