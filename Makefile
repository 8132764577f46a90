# The course's commands. Each target sets up .venv itself when needed (once).
#   make lab    set up, then open JupyterLab on notebooks/
#   make test   set up, then run all tests (unit tests + nbval on every notebook), then
#               the Colab-equivalent tier (Python 3.13) and the Python 3.12 tier
#   make run    set up, then execute every notebook in order, storing outputs (regenerate)
#   make nav    rewrite notebook headers/setup cells/footers + README table from the syllabus,
#               and the learner copies of exercise notebooks from their solved copies
#   make book   build the course as a static web book into build/book/_build/html
#   make test-colab    only the Colab-equivalent tier (Python 3.13, Colab's versions)
#   make test-py312    only the Python 3.12 tier (the modern stack on 3.12; a smoke test)
#   make test-browser  only the browser test (JupyterLab + headless Chromium)
#   make test-binder   the Binder build steps in a fresh venv (slow: installs TensorFlow)
#
# Two stacks: Python 3.11 when present, with requirements.txt (classic: TensorFlow
# 2.14); otherwise Python 3.13 or 3.12 with requirements-modern.txt (modern: Colab's
# versions, TensorFlow 2.20). `make PYTHON=/path/to/python3.x ...` chooses.

PYTHON ?= $(shell tools/find_python.sh)
STACK  := $(shell "$(PYTHON)" -c 'import sys; print("classic" if sys.version_info[:2] == (3, 11) else "modern")' 2>/dev/null)
ifeq ($(STACK),modern)
REQUIREMENTS     := requirements-modern.txt
TFF_REQUIREMENTS := requirements-tff-modern.txt
TFF_PIP_FLAGS    := --no-deps --ignore-requires-python
else
REQUIREMENTS     := requirements.txt
TFF_REQUIREMENTS := requirements-tff.txt
TFF_PIP_FLAGS    := --no-deps
endif
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# The web book's tools live apart from the course's: requirements-book.txt (it says
# why Jupyter Book 1) in .venv-book, MathJax from npm (book/package-lock.json).
BOOK_VENV := .venv-book
BOOK_STAMP := $(BOOK_VENV)/.installed
MATHJAX_STAMP := book/node_modules/.installed
# Tests use the bundled sample of real writers: deterministic and needs no network.
TEST_DATA ?= sample
LAB_ARGS ?=
# Jupyter refuses to run as root unless told; containers and CI often are root.
ROOT_ARG := $(if $(filter 0,$(shell id -u)),--allow-root)
NBVAL := --nbval-lax --nbval-current-env --sanitize-with tests/nbval_sanitize.cfg
# JupyterLab settings of the environments the course creates (no news toast).
LAB_SETTINGS = share/jupyter/lab/settings

# The Colab-equivalent tier: a Python 3.13 venv with Colab's versions and a fake
# google.colab imported at kernel start; the notebooks' first cells install the course.
COLAB_PYTHON ?= $(shell tools/find_python.sh 3.13)
COLAB_VENV   := .venv-colab
COLAB_STAMP  := $(COLAB_VENV)/.installed
# The Python 3.12 tier: the modern stack on 3.12 (what Ubuntu 24.04 ships).
PY312_PYTHON ?= $(shell tools/find_python.sh 3.12)
PY312_VENV   := .venv-py312
# The unit tests the tier runs on that stack: those whose result can depend on the
# stack (the shims, Colab's first cell, the pins, loading data through TFF, the models
# and tff.learning, the hand-built FedAvg, the checkers that run learners' TFF code, the
# runtime's worker and doctor, a CLI run). The rest (authoring, plots, the book, the
# browser, the network namespaces, `make lab`) is plain Python that `make test` already
# runs on the classic stack; running it twice would cost CI minutes and prove nothing
# new. `make test-colab COLAB_UNIT_TESTS=tests` runs them all.
COLAB_UNIT_TESTS ?= tests/test_compat.py tests/test_bootstrap.py tests/test_stacks.py \
	tests/test_data.py tests/test_tff_learning.py tests/test_fedavg.py tests/test_runtime.py \
	tests/test_exercises_nb02.py tests/test_exercises_nb04.py tests/test_exercises_nb05.py \
	tests/test_exercises_nb06.py tests/test_exercises_nb07.py tests/test_exercises_nb10.py \
	tests/test_clean_exit.py "tests/test_cli.py::test_train_json_fedavg_in_a_terminal" \
	"tests/test_grading.py::test_solved_copies_pass_every_exercise" \
	"tests/test_grading.py::test_wrong_answers_get_their_mistakes_name"

.PHONY: setup lab test run doctor clean-venv nav browser-deps test-browser test-binder \
        netns-deps book book-deps book-test-deps test-colab test-colab-when-possible \
        test-py312 test-py312-when-possible

setup: $(STAMP)

$(STAMP): $(REQUIREMENTS) $(TFF_REQUIREMENTS) pyproject.toml tools/jupyterlab-overrides.json
	@tools/check_python.sh "$(PYTHON)"
	@echo "Setting up $(VENV) with $(PYTHON): the $(STACK) stack ($(REQUIREMENTS))"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/pip install -r $(REQUIREMENTS)
	@# TFF 0.87.0 pins jaxlib==0.4.14, gone from PyPI, and (modern stack) says
	@# Python < 3.12: install it without its dependencies, all pinned in $(REQUIREMENTS).
	$(BIN)/pip install $(TFF_PIP_FLAGS) -r $(TFF_REQUIREMENTS)
	$(BIN)/pip install --no-deps --no-build-isolation -e .
	mkdir -p $(VENV)/$(LAB_SETTINGS) && cp tools/jupyterlab-overrides.json $(VENV)/$(LAB_SETTINGS)/overrides.json
	@touch $(STAMP)

# Test-only tools: playwright (pip) and Debian's chromium (apt, once, when root).
$(DEV_STAMP): requirements-dev.txt $(STAMP)
	$(BIN)/pip install -r requirements-dev.txt
	@touch $(DEV_STAMP)

browser-deps: $(DEV_STAMP)
	@tools/install_chromium.sh

$(BOOK_STAMP): requirements-book.txt
	@tools/check_python.sh "$(PYTHON)"
	@test -x $(BOOK_VENV)/bin/python || $(PYTHON) -m venv $(BOOK_VENV)
	$(BOOK_VENV)/bin/python -m pip install --upgrade --quiet pip
	$(BOOK_VENV)/bin/pip install --quiet -r requirements-book.txt
	@touch $(BOOK_STAMP)

NO_NPM := the web book needs npm (Node.js) for MathJax: e.g. sudo apt-get install npm

$(MATHJAX_STAMP): book/package.json book/package-lock.json
	@command -v npm >/dev/null || { echo "$(NO_NPM)" >&2; exit 1; }
	npm ci --prefix book --no-audit --no-fund
	@touch $(MATHJAX_STAMP)

book-deps: $(BOOK_STAMP) $(MATHJAX_STAMP)

# For the tests: without npm the book's test is skipped (with this hint), as the
# browser tests are without chromium.
book-test-deps: $(BOOK_STAMP)
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory $(MATHJAX_STAMP); \
	 else echo "note: $(NO_NPM); the book's test will be skipped" >&2; fi

# Offline, from the stored outputs (nothing is executed); warnings are errors.
book: setup book-deps
	$(BIN)/python -m course_utils.authoring.book
# iproute2's `ip` for the network-namespace test (tests/test_netns_cluster.py; root only).
netns-deps:
	@tools/install_debian_package.sh ip iproute2 "the network-namespace test"

lab: setup
	$(BIN)/jupyter lab --notebook-dir=notebooks $(ROOT_ARG) $(LAB_ARGS)

test: setup browser-deps book-test-deps netns-deps
	COURSE_DATA=$(TEST_DATA) $(BIN)/python -m pytest tests notebooks $(NBVAL)
	@$(MAKE) --no-print-directory test-colab-when-possible
	@$(MAKE) --no-print-directory test-py312-when-possible

# Each tier runs when its Python is found; otherwise it says why it is skipped (and
# fails instead when COURSE_REQUIRE_TIERS=1, as CI sets).
test-colab-when-possible:
	@tools/tier_when_possible.sh "Colab-equivalent tier" 3.13 COLAB_PYTHON "$(COLAB_PYTHON)" test-colab

test-py312-when-possible:
	@tools/tier_when_possible.sh "Python 3.12 tier" 3.12 PY312_PYTHON "$(PY312_PYTHON)" test-py312

$(COLAB_STAMP): requirements-modern.txt tests/colab/fake_google_colab/google/colab/__init__.py
	@test -n "$(COLAB_PYTHON)" || { echo "error: make test-colab needs Python 3.13: make COLAB_PYTHON=/path/to/python3.13 test-colab" >&2; exit 1; }
	@test -x $(COLAB_VENV)/bin/python || $(COLAB_PYTHON) -m venv $(COLAB_VENV)
	$(COLAB_VENV)/bin/python -m pip install --upgrade --quiet pip
	$(COLAB_VENV)/bin/pip install -r requirements-modern.txt
	$(COLAB_VENV)/bin/python tests/colab/make_colab_like.py
	@touch $(COLAB_STAMP)

# Like Colab: no TFF, no course package until each notebook's first cell installs them
# (from this checkout: COURSE_INSTALL_FROM); then the unit tests on that stack. The
# learner copies only: the solved copies differ in their exercise cells, which the
# grader's tests run on this stack with their checkers (COLAB_UNIT_TESTS), and the
# classic run puts them under nbval whole.
test-colab: $(COLAB_STAMP)
	$(COLAB_VENV)/bin/python tests/colab/make_colab_like.py --fresh-runtime
	COURSE_DATA=$(TEST_DATA) COURSE_INSTALL_FROM=$(CURDIR) IPYTHONDIR=$(CURDIR)/$(COLAB_VENV)/ipython \
	  $(COLAB_VENV)/bin/python -m pytest notebooks/*.ipynb $(NBVAL)
	COURSE_DATA=$(TEST_DATA) $(COLAB_VENV)/bin/python -m pytest $(COLAB_UNIT_TESTS)

# The Python 3.12 tier (Ubuntu 24.04's Python): the modern stack set up on 3.12 by
# `make setup`'s own recipe (into .venv-py312), then doctor, a short train, every
# command's clean exit (tests/test_clean_exit.py) and notebook 05 under nbval. A smoke
# tier: the Colab tier runs everything else on the same pins with Python 3.13.
test-py312:
	@test -n "$(PY312_PYTHON)" || { echo "error: make test-py312 needs Python 3.12: make PY312_PYTHON=/path/to/python3.12 test-py312" >&2; exit 1; }
	@$(MAKE) --no-print-directory setup PYTHON="$(PY312_PYTHON)" VENV=$(PY312_VENV)
	COURSE_DATA=$(TEST_DATA) $(PY312_VENV)/bin/python -m course_utils doctor
	COURSE_DATA=$(TEST_DATA) $(PY312_VENV)/bin/python -m course_utils train --algorithm fedavg --rounds 2 --no-progress
	COURSE_DATA=$(TEST_DATA) $(PY312_VENV)/bin/python -m pytest tests/test_clean_exit.py \
	  notebooks/05_fedavg_from_scratch.ipynb $(NBVAL)

run: setup
	$(BIN)/python tools/run_notebooks.py

test-browser: setup browser-deps book-test-deps
	COURSE_DATA=$(TEST_DATA) $(BIN)/python -m pytest tests/e2e -s

test-binder: setup
	RUN_BINDER_TEST=1 $(BIN)/python -m pytest tests/test_binder.py -s

nav: setup
	$(BIN)/python -m course_utils nav

doctor: setup
	$(BIN)/python -m course_utils doctor

clean-venv:
	rm -rf $(VENV) $(COLAB_VENV) $(PY312_VENV)
