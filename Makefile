# `make run` and `make test` work on a fresh machine with only Python 3: they create .venv when it is
# missing, install the package with the versions of constraints.txt, then run. `make lint` runs ruff.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean-work

$(STAMP): setup.py constraints.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -c constraints.txt -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/python tools/run_pipeline.py --stage all

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/bench_eval.py

clean-work:
	rm -rf work_dirs
