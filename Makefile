# Two commands on a fresh machine: `make run` (the default study) and `make test` (the test suite).
# Each creates .venv when it is missing and installs jaxrg into it (versions pinned by constraints.txt).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.jaxrg-installed
JOBS ?= 2

.PHONY: run test bench bench-tenax install clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[test,bench]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/jaxrg run

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -n $(JOBS) --durations=15 tests

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

# Side by side with Tenax (TRG, HOTRG): not a dependency of jaxrg; installed into the venv only for this comparison
bench-tenax: $(STAMP)
	$(PY) -m pip install --quiet -c constraints.txt tenax-tn==0.8.3
	$(PY) benchmarks/trg.py --sections tenax

clean:
	rm -rf $(VENV) .pytest_cache
