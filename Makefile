# softbench: two commands on a fresh machine.
#   make demo   install, then run force parity of three uMLIPs on real DFT data
#   make test   install (both environments), then the test suite
#
# The default environment (.venv, or the active virtualenv) holds the demo's
# models (CHGNet, M3GNet, SevenNet). MACE pins e3nn==0.4.4, which SevenNet cannot
# share, so it gets its own environment (.venv-mace); workflows reach it through
# SOFTBENCH_ENV_MACE (see README, "Environments").

PYTHON ?= python3
TORCH ?= torch==2.13.0
MACE_VENV := $(CURDIR)/.venv-mace

ifdef VIRTUAL_ENV
VENV := $(VIRTUAL_ENV)
else
VENV := $(CURDIR)/.venv
endif
PY := $(VENV)/bin/python
STAMP := $(VENV)/.softbench-installed
MACE_STAMP := $(MACE_VENV)/.softbench-installed

export SOFTBENCH_SHARED ?= $(abspath $(CURDIR)/../shared)
export SOFTBENCH_ENV_MACE := $(MACE_VENV)/bin/python

.PHONY: install install-mace install-cp2k install-chromium demo test lint benchmark clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)   # first: the CPU wheel, not CUDA builds
	$(PY) -m pip install --quiet -e ".[models,fireworks,api,export,dev,defects]"
	touch $@

install-mace: $(MACE_STAMP)

$(MACE_STAMP): pyproject.toml
	test -x $(MACE_VENV)/bin/python || $(PYTHON) -m venv $(MACE_VENV)
	$(MACE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MACE_VENV)/bin/python -m pip install --quiet $(TORCH)
	$(MACE_VENV)/bin/python -m pip install --quiet -e ".[mace,dev]"
	touch $@

# CP2K for the high-energy task's --dft cp2k (and its real-CP2K tests). Installed
# with apt where cp2k.psmp is missing and apt-get can run (as root); never fails the
# make: without CP2K those tests are skipped and say why.
install-cp2k:
	@command -v cp2k.psmp >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cp2k) \
	      || echo "softbench: could not install CP2K with apt; CP2K tests will be skipped"; \
	  else \
	    echo "softbench: cp2k.psmp not found and apt-get unavailable (or not root);" \
	      "CP2K tests will be skipped (install: apt-get install cp2k, conda-forge cp2k)"; \
	  fi; }

# Headless Chromium renders the HTML report in tests/test_report_html.py. Installed
# with apt where it is missing and apt-get can run (as root); never fails the make:
# without it that test is skipped and says why.
install-chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	      || echo "softbench: could not install chromium with apt; the HTML screenshot test will be skipped"; \
	  else \
	    echo "softbench: chromium not found and apt-get unavailable (or not root);" \
	      "the HTML screenshot test will be skipped (install: apt-get install chromium)"; \
	  fi; }

demo: install
	$(VENV)/bin/softbench demo

test: install install-mace install-cp2k install-chromium
	$(PY) -m pytest
	$(MACE_VENV)/bin/python -m pytest tests/test_mace.py

lint: install
	$(VENV)/bin/ruff check softbench tests benchmarks
	$(VENV)/bin/mypy softbench

benchmark: install
	$(PY) benchmarks/static_throughput.py

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache softbench-output softbench-report
