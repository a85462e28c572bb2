# The two set-up commands (README): `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DB ?= data/cs.duckdb
PORT ?= 8501

.PHONY: run test test-fast bench bench-scale sample clean

$(BIN)/.installed: requirements.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

$(BIN)/.installed-test: $(BIN)/.installed requirements-test.txt requirements-spark.txt
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-test.txt
	touch $@

# Debian's Chromium for the browser tests (Playwright cannot download browsers here).
/usr/bin/chromium:
	(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	  || (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

# LibreOffice Impress (opens the packs' .pptx as an office suite would) and poppler's pdftoppm (rasterises PDFs).
/usr/bin/soffice:
	(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libreoffice-impress) \
	  || (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libreoffice-impress)

/usr/bin/pdftoppm:
	(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils) \
	  || (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils)

# PostgreSQL for the database-source tests (tests/test_postgres.py starts its own throwaway server on a socket).
/usr/bin/pg_ctlcluster:
	(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) \
	  || (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql)

# A Java runtime for PySpark's local mode (the Spark rollup and fan-out tests): Debian's OpenJDK 17.
/usr/bin/java:
	(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless) \
	  || (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless)

run: $(BIN)/.installed
	$(BIN)/python -m app sample --if-missing --db $(DB)
	CS_DB=$(DB) $(BIN)/streamlit run streamlit_app.py --server.port $(PORT)

test: $(BIN)/.installed-test /usr/bin/chromium /usr/bin/soffice /usr/bin/pdftoppm /usr/bin/java /usr/bin/pg_ctlcluster
	$(BIN)/python -m ruff check .
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest

test-fast: $(BIN)/.installed-test
	$(BIN)/python -m ruff check .
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -m "not slow and not browser"

bench: $(BIN)/.installed-test /usr/bin/chromium
	$(BIN)/python -m bench

# The usage rollup on DuckDB and Spark local mode at 10^6 and 10^7 events (SIZES="1e6 1e7 1e8" for more);
# writes bench/results_scale.md. Separate from `make bench` (it takes minutes). A size projected past
# BUDGET seconds (from the previous size) is skipped: SIZES="1e6 1e7 1e8" BUDGET=3600 times Spark at 10^8.
SIZES ?= 1e6 1e7
BUDGET ?= 600
bench-scale: $(BIN)/.installed-test /usr/bin/java
	$(BIN)/python -m bench.bench_scale --sizes $(SIZES) --budget-s $(BUDGET)

sample: $(BIN)/.installed
	$(BIN)/python -m app sample --db $(DB)

clean:
	rm -rf $(VENV) data/cs.duckdb data/cs.duckdb.wal .pytest_cache
