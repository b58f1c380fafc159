# The front door: `make demo` runs the shipped example, `make test` runs the tests.
# Both create a virtual environment in .venv on first use; nothing needs installing by hand.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-pg bench bench-import clean

install: $(STAMP)

$(STAMP): pyproject.toml scripts/install_engine.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python scripts/install_engine.py
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres]'
	touch $(STAMP)

demo: install
	$(BIN)/compliance demo

test: install
	$(BIN)/python -m pytest $(ARGS)

bench: install
	$(BIN)/python bench/engine_bench.py $(ARGS)

bench-import: install
	$(BIN)/python bench/import_bench.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
