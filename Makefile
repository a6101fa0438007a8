# Gladly historical import. `make import` and `make test` are all you need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= samples/config.yml
MODE   ?=
SCALE  ?=
DRY_RUN ?=

export PYTHONPATH := $(CURDIR)
export DBT_PROFILES_DIR := $(CURDIR)

# The Python the venv is built with must be 3.11+; a venv made by another Python is rebuilt.
PY_VERSION_CODE := import sys; print("%d.%d" % sys.version_info[:2])
PY_VERSION   := $(shell $(PYTHON) -c '$(PY_VERSION_CODE)' 2>/dev/null)
VENV_VERSION := $(shell [ -x $(BIN)/python ] && $(BIN)/python -c '$(PY_VERSION_CODE)' 2>/dev/null)

.PHONY: import check push test test-fast test-sql bench browser clean help python-version FORCE

help:
	@echo "make import [CONFIG=path.yml] [MODE=full|delta]  run the import (bundled samples by default)"
	@echo "make check [CONFIG=path.yml]                    the preflight: can the run go ahead? (read-only requests)"
	@echo "make push [CONFIG=path.yml] [DRY_RUN=1]         send the last import's batch to Gladly's API (docs/gladly-push.md)"
	@echo "make test                                       run every test (ruff, pytest, dbt unit and data tests, a bench smoke run): CI"
	@echo "make test-fast                                  ruff + the unit tests + the dbt unit tests, no whole import (the development loop)"
	@echo "make test-sql                                   the dbt unit tests alone, on an empty import's DuckDB file"
	@echo "make bench [SCALE=1000000]                      benchmark on a generated corpus"
	@echo "make clean                                      remove the virtual environment and build output"
	@echo "(PYTHON=python3.12 make ... to build .venv with another Python 3.11+)"

python-version:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  found=$$($(PYTHON) -V 2>/dev/null) || found="not found"; \
	  echo "gladly-import needs Python 3.11 or newer; '$(PYTHON)' is $$found: install 3.11+ or run e.g. make PYTHON=python3.12"; \
	  exit 1; }

ifneq ($(VENV_VERSION),$(PY_VERSION))
$(VENV)/.installed: FORCE
endif

# The project is installed in the venv in editable mode (the gladly-import command, and
# gladly_import + extract importable from this checkout, dbt's plugin included).
$(VENV)/.installed: requirements.txt requirements.lock pyproject.toml | python-version
	@if [ -d $(VENV) ] && [ "$(VENV_VERSION)" != "$(PY_VERSION)" ]; then \
	  echo "rebuilding $(VENV): it was made by Python $(or $(VENV_VERSION),(none that runs)), not $(PY_VERSION)"; \
	  rm -rf $(VENV); fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -c requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

# The Spark engine's extras, installed on the first Spark import (a config saying engine: spark)
# and for make test; Spark itself needs Java 17+ (one line says so when it is missing).
SPARK_CONFIG := $(shell grep -qsE '^engine:[[:space:]]*spark' "$(CONFIG)" && echo yes)

$(VENV)/.spark-installed: $(VENV)/.installed requirements-spark.txt
	@echo "installing the Spark extras (dbt-spark, pyspark: requirements-spark.txt) into $(VENV)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-spark.txt -c requirements.lock
	@command -v java >/dev/null 2>&1 || [ -x "$$JAVA_HOME/bin/java" ] || echo "note: Spark needs Java 17 or later, and no java is on PATH"
	touch $@

import: $(VENV)/.installed $(if $(SPARK_CONFIG),$(VENV)/.spark-installed,)
	$(BIN)/gladly-import --config "$(CONFIG)" $(if $(MODE),--mode $(MODE),)

check: $(VENV)/.installed
	$(BIN)/gladly-import check --config "$(CONFIG)"

push: $(VENV)/.installed
	$(BIN)/gladly-import push --config "$(CONFIG)" $(if $(DRY_RUN),--dry-run,)

# The report test renders import_report.html in Debian's headless Chromium: install it when
# missing and possible (root + apt), else that one test is skipped (it fails under CI=true).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the report test"; \
	    out=$$(mktemp); \
	    if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >$$out 2>&1; then \
	      echo "could not install chromium (the report rendering test will be skipped); apt-get said:"; \
	      tail -n 15 $$out | sed 's/^/  /'; fi; \
	    rm -f $$out; \
	  else echo "chromium not installed: the report rendering test will be skipped"; fi; }

# Everything, as CI runs it: the slow tests too (whole imports, Spark, the package build, the bench
# at a smoke scale: tests/python/test_bench_smoke.py).
test: $(VENV)/.installed $(VENV)/.spark-installed browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest tests/python
	$(BIN)/python tests/dbt/run_unit_tests.py

# The development loop: no whole import (tests/python/conftest.py fails a test not marked slow that
# starts one), the unit tests spread over TEST_WORKERS processes (most of their time is waiting on
# simulators and child processes), then the dbt unit tests.
TEST_WORKERS ?= 4
test-fast: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/python -m pytest tests/python -m "not slow" -q -n $(TEST_WORKERS)
	$(BIN)/python tests/dbt/run_unit_tests.py

test-sql: $(VENV)/.installed
	$(BIN)/python tests/dbt/run_unit_tests.py

bench: $(VENV)/.installed
	$(BIN)/python -m bench $(if $(SCALE),--scale $(SCALE),)

clean:
	rm -rf $(VENV) target logs output work output-zendesk-api work-zendesk-api build dist
