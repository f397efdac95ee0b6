# Two commands for a fresh machine: `make demo` runs the main job, `make test` passes the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
RUNTIME := $(VENV)/.deepff-runtime
TESTING := $(VENV)/.deepff-testing

.PHONY: test demo bench bench-issue3 lint docs clean postgresql chromium

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Everything a user runs (the engine and every integration).
$(RUNTIME): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[all]'
	touch $@

# What the tests add: pytest, hypothesis, PyTorch as the oracle, the docs toolchain.
$(TESTING): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[all,test]'
	touch $@ $(RUNTIME)

# The tests' matrices are tiny: one BLAS thread is faster and immune to a busy neighbour.
test: $(TESTING) postgresql chromium
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(PY) -m pytest

demo: $(RUNTIME)
	$(VENV)/bin/deepff demo

# This machine's environment pins OpenBLAS to older kernels (OPENBLAS_CORETYPE, _L2_SIZE) that
# users' machines do not have: the benchmark alone runs without the pin (tests and CI keep it),
# and bench.py prints the kernel it got (threadpoolctl) and the measured matmul peak.
bench: $(TESTING)
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) benchmarks/bench_peers.py --wait-quiet 300

# issue 3's benchmark (deepff, torch eager, scikit-learn; memory and accuracy checks)
bench-issue3: $(TESTING)
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) benchmarks/bench.py --wait-quiet 300

lint: $(TESTING)
	$(PY) -m ruff check src tests

docs: $(TESTING)
	$(PY) -m mkdocs build --strict
	@echo "open site/index.html: the site works from disk (file://), with no server and no network"

# PostgreSQL server binaries for the multi-worker tuning test; when they cannot be installed
# the test is skipped and says why.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  ($$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    $$SUDO apt-get install -y -qq postgresql >/dev/null) \
	  || echo "PostgreSQL could not be installed: the PostgreSQL tuning test will be skipped"; }

# Debian's Chromium for the docs' browser test (Playwright drives the system browser; nothing
# is downloaded at test time); when it cannot be installed the test is skipped and says why.
chromium:
	@command -v chromium >/dev/null || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  ($$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    $$SUDO apt-get install -y -qq chromium >/dev/null) \
	  || echo "Chromium could not be installed: the docs' browser test will be skipped"; }

clean:
	rm -rf $(VENV) .pytest_cache build dist site
