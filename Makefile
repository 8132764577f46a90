# The course's commands. Each target sets up .venv itself when needed (once).
#   make lab    set up, then open JupyterLab on notebooks/
#   make test   set up, then run all tests (unit tests + nbval on every notebook)
#   make run    set up, then execute every notebook in order, storing outputs (regenerate)
#   make nav    rewrite notebook headers/setup cells/footers + README table from the syllabus
#   make test-browser  only the browser test (JupyterLab + headless Chromium)
#   make test-binder   the Binder build steps in a fresh venv (slow: installs TensorFlow)

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# Tests use the offline dataset: deterministic and needs no network.
TEST_DATA ?= offline
LAB_ARGS ?=
# Jupyter refuses to run as root unless told; containers and CI often are root.
ROOT_ARG := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: setup lab test run doctor clean-venv nav browser-deps netns-deps test-browser test-binder

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

# Test-only tools: playwright (pip) and Debian's chromium (apt, once, when root).
$(DEV_STAMP): requirements-dev.txt $(STAMP)
	$(BIN)/pip install -r requirements-dev.txt
	@touch $(DEV_STAMP)

browser-deps: $(DEV_STAMP)
	@tools/install_chromium.sh

# iproute2's `ip` for the network-namespace test (tests/test_netns_cluster.py; root only).
netns-deps:
	@tools/install_debian_package.sh ip iproute2 "the network-namespace test"

lab: setup
	$(BIN)/jupyter lab --notebook-dir=notebooks $(ROOT_ARG) $(LAB_ARGS)

test: setup browser-deps netns-deps
	COURSE_DATA=$(TEST_DATA) $(BIN)/python -m pytest tests notebooks \
	  --nbval-lax --nbval-current-env --sanitize-with notebooks/nbval_sanitize.cfg

run: setup
	$(BIN)/python tools/run_notebooks.py

test-browser: setup browser-deps
	COURSE_DATA=$(TEST_DATA) $(BIN)/python -m pytest tests/e2e -s

test-binder: setup
	RUN_BINDER_TEST=1 $(BIN)/python -m pytest tests/test_binder.py -s

nav: setup
	$(BIN)/python -m course_utils nav

doctor: setup
	$(BIN)/python -m course_utils doctor

clean-venv:
	rm -rf $(VENV)
