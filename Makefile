# Two entry points on a fresh machine: `make run` and `make test`. Everything goes into .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench browser clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c "import sys; sys.exit(sys.version_info[:2] != (3, 11))" || { echo "shequn needs Python 3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/shequn fonts install
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/shequn demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

# The dashboard is tested in Debian's chromium; Playwright drives it and never downloads one.
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "the dashboard tests need Debian's chromium: sudo apt-get install chromium"; exit 1; fi; }

# Storage tests run on SQLite and on PostgreSQL (SHEQUN_TEST_POSTGRES, default the local server).
test: $(STAMP) lint browser
	$(BIN)/python -m pytest -n 2 tests

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/audit_eval.py
	$(BIN)/python bench/lottery.py
	$(BIN)/python bench/fission_report.py
	$(BIN)/python bench/report_latency.py --groups 10000 --events 60000 --repeat 5
	$(BIN)/python bench/simulate.py --scenario brand-10k

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
