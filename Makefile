# The front door: `make demo` runs the shipped example, `make test` runs the tests.
# Both create a virtual environment in .venv on first use; nothing needs installing by hand.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo documents test test-pg fuzz bench bench-engine bench-import readme-catalogue clean

install: $(STAMP)

$(STAMP): pyproject.toml scripts/install_engine.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python scripts/install_engine.py
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres]'
	touch $(STAMP)

demo: install
	$(BIN)/compliance demo

# The officer's documents on the example data: a run, a notice of concern (L2) and a renewal dossier.
documents: install
	$(BIN)/compliance demo > /dev/null
	$(BIN)/compliance --db compliance-demo.db run --as-of 2025-06-30
	$(BIN)/compliance --db compliance-demo.db letter draft NDNA-CALLOFF-2024-017 --type L2 --date 2025-07-01 \
	    --contact "A. Officer, Contracts Manager" --out demo-documents
	$(BIN)/compliance --db compliance-demo.db report dossier NDNA-CALLOFF-2024-017 --as-of 2025-06-30 \
	    --out demo-documents

test: install
	$(BIN)/python -m pytest $(ARGS)

# The hostile-input fuzz tests with thousands of cases each instead of the hundred of `make test`.
fuzz: install
	COMPLIANCE_FUZZ_EXAMPLES=$${COMPLIANCE_FUZZ_EXAMPLES:-3000} $(BIN)/python -m pytest tests/test_hostile_input.py $(ARGS)

# The nightly run on a synthetic consortium: 10,000 and 100,000 evidence records on SQLite (and PostgreSQL when
# COMPLIANCE_BENCH_DATABASE_URL is set); ARGS=--full adds 1,000,000 records.
bench: install
	$(BIN)/python bench/run_bench.py $(ARGS)

bench-engine: install
	$(BIN)/python bench/engine_bench.py $(ARGS)

bench-import: install
	$(BIN)/python bench/import_bench.py $(ARGS)

# After changing a rule's `differences`: rewrite the README's catalogue table from `rules coverage --catalogue`.
readme-catalogue: install
	$(BIN)/python scripts/readme_catalogue.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis demo-documents
