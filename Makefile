# The two commands a newcomer needs: `make test` and `make demo`. Both do all set-up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MYPY_ROOT := $(VENV)/mypy-root
# Real HTCondor for the tests (and `glidein demo --htcondor`): the release kept in ../shared/htcondor/
SHARED_HTCONDOR ?= $(CURDIR)/../shared/htcondor

.PHONY: test lint typecheck unit demo system-deps venv clean bench htcondor

$(STAMP): setup.cfg setup.py pyproject.toml scripts/system_deps.sh
	bash scripts/system_deps.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,rrd]'
	mkdir -p $(MYPY_ROOT) && ln -sfn $(CURDIR) $(MYPY_ROOT)/glidein
	touch $(STAMP)

venv: $(STAMP)

htcondor: $(STAMP)
	bash scripts/htcondor_unpack.sh $(SHARED_HTCONDOR) $(VENV)/htcondor

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	cd $(MYPY_ROOT) && $(CURDIR)/$(BIN)/mypy --config-file $(CURDIR)/pyproject.toml -p glidein

unit: $(STAMP) htcondor
	$(BIN)/pytest

test: lint typecheck unit

demo: $(STAMP) htcondor
	$(BIN)/glidein demo

bench: $(STAMP) htcondor
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
