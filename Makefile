# The course's commands. Each target sets up .venv itself when needed (once).
#   make lab    set up, then open JupyterLab on notebooks/
#   make test   set up, then run all tests (unit tests + nbval on every notebook)
#   make run    set up, then execute every notebook in order, storing outputs (regenerate)

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Tests use the offline dataset: deterministic and needs no network.
TEST_DATA ?= offline
LAB_ARGS ?=
# Jupyter refuses to run as root unless told; containers and CI often are root.
ROOT_ARG := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: setup lab test run doctor clean-venv

setup: $(STAMP)

$(STAMP): requirements.txt requirements-tff.txt pyproject.toml
	@tools/check_python.sh "$(PYTHON)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/pip install -r requirements.txt
	@# TFF 0.87.0 pins jaxlib==0.4.14, gone from PyPI: install it without its
	@# dependencies (all pinned in requirements.txt). See requirements.txt.
	$(BIN)/pip install --no-deps -r requirements-tff.txt
	$(BIN)/pip install --no-deps --no-build-isolation -e .
	@touch $(STAMP)

lab: setup
	$(BIN)/jupyter lab --notebook-dir=notebooks $(ROOT_ARG) $(LAB_ARGS)

test: setup
	COURSE_DATA=$(TEST_DATA) $(BIN)/python -m pytest tests notebooks \
	  --nbval-lax --nbval-current-env --sanitize-with notebooks/nbval_sanitize.cfg

run: setup
	$(BIN)/python tools/run_notebooks.py

doctor: setup
	$(BIN)/python -m course_utils doctor

clean-venv:
	rm -rf $(VENV)
