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

.PHONY: import push test bench browser clean help

help:
	@echo "make import [CONFIG=path.yml] [MODE=full|delta]  run the import (bundled samples by default)"
	@echo "make push [CONFIG=path.yml] [DRY_RUN=1]         send the last import's batch to Gladly's API (docs/gladly-push.md)"
	@echo "make test                                       run every test (pytest + dbt unit and data tests)"
	@echo "make bench [SCALE=1000000]                      benchmark on a generated corpus"
	@echo "make clean                                      remove the virtual environment and build output"

$(VENV)/.installed: requirements.txt requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -c requirements.lock
	$(BIN)/python -c "import site, sys; open(site.getsitepackages()[0] + '/gladly-import-project.pth', 'w').write(sys.argv[1] + '\\n')" "$(CURDIR)"
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
	$(BIN)/python -m gladly_import --config "$(CONFIG)" $(if $(MODE),--mode $(MODE),)

push: $(VENV)/.installed
	$(BIN)/python -m gladly_import.push --config "$(CONFIG)" $(if $(DRY_RUN),--dry-run,)

# The report test renders import_report.html in Debian's headless Chromium: install it when
# missing and possible (root + apt), else that one test is skipped (it fails under CI=true).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the report test"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
	      || echo "could not install chromium"; \
	  else echo "chromium not installed: the report rendering test will be skipped"; fi; }

test: $(VENV)/.installed $(VENV)/.spark-installed browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest tests/python

bench: $(VENV)/.installed
	$(BIN)/python -m bench $(if $(SCALE),--scale $(SCALE),)

clean:
	rm -rf $(VENV) target logs output work
