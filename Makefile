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
#   make test-fast     lint and the tests that need no TensorFlow, in .venv-fast (seconds;
#                      GitHub's fast job runs exactly this: .github/workflows/tests.yml)
#   make test-units, test-notebooks, test-netns, test-colab-solutions: parts of `make
#                      test`, as GitHub's parallel and nightly jobs run them
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
# Each pip install is tried again when it fails (tools/retry.sh says why), and pip
# itself resumes a download that broke off, up to 20 times, unless told otherwise.
RETRY := tools/retry.sh
export PIP_RESUME_RETRIES ?= 20

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
	tests/test_exercises_drift_remedies.py tests/test_exercises_nb11.py \
	tests/test_clean_exit.py "tests/test_cli.py::test_train_json_fedavg_in_a_terminal" \
	"tests/test_grading.py::test_solved_copies_pass_every_exercise" \
	"tests/test_grading.py::test_wrong_answers_get_their_mistakes_name"

.PHONY: setup setup-dev lab test run doctor clean-venv nav browser-deps test-browser \
        test-binder netns-deps book book-deps book-test-deps test-colab \
        test-colab-when-possible test-py312 test-py312-when-possible test-fast test-units \
        test-notebooks test-netns test-colab-solutions

setup: $(STAMP)

$(STAMP): $(REQUIREMENTS) $(TFF_REQUIREMENTS) pyproject.toml tools/jupyterlab-overrides.json
	@tools/check_python.sh "$(PYTHON)"
	@echo "Setting up $(VENV) with $(PYTHON): the $(STACK) stack ($(REQUIREMENTS))"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(RETRY) $(BIN)/python -m pip install --upgrade --quiet pip
	$(RETRY) $(BIN)/pip install -r $(REQUIREMENTS)
	@# TFF 0.87.0 pins jaxlib==0.4.14, gone from PyPI, and (modern stack) says
	@# Python < 3.12: install it without its dependencies, all pinned in $(REQUIREMENTS).
	$(RETRY) $(BIN)/pip install $(TFF_PIP_FLAGS) -r $(TFF_REQUIREMENTS)
	$(RETRY) $(BIN)/pip install --no-deps --no-build-isolation -e .
	mkdir -p $(VENV)/$(LAB_SETTINGS) && cp tools/jupyterlab-overrides.json $(VENV)/$(LAB_SETTINGS)/overrides.json
	@touch $(STAMP)

# The test tools (requirements-dev.txt, the same on both stacks), and Debian's chromium
# for the browser test (apt, once, when root).
$(DEV_STAMP): requirements-dev.txt $(STAMP)
	$(RETRY) $(BIN)/pip install -r requirements-dev.txt
	@touch $(DEV_STAMP)

setup-dev: $(DEV_STAMP)

browser-deps: $(DEV_STAMP)
	@tools/install_chromium.sh

$(BOOK_STAMP): requirements-book.txt
	@tools/check_python.sh "$(PYTHON)"
	@test -x $(BOOK_VENV)/bin/python || $(PYTHON) -m venv $(BOOK_VENV)
	$(RETRY) $(BOOK_VENV)/bin/python -m pip install --upgrade --quiet pip
	$(RETRY) $(BOOK_VENV)/bin/pip install --quiet -r requirements-book.txt
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

# Offline, from the stored outputs (nothing is executed); warnings are errors. Only the
# book's tools: course_utils' authoring code runs on .venv-book without TensorFlow.
book: book-deps
	PYTHONPATH=$(CURDIR) $(BOOK_VENV)/bin/python -m course_utils.authoring.book
# iproute2's `ip` for the network-namespace test (tests/test_netns_cluster.py; root only).
netns-deps:
	@tools/install_debian_package.sh ip iproute2 "the network-namespace test"

lab: setup
	$(BIN)/jupyter lab --notebook-dir=notebooks $(ROOT_ARG) $(LAB_ARGS)

# The classic part, and the unit tests of the two other tiers, in two pytest processes
# (pytest-xdist), each test file and each notebook whole in one of them; the tests that judge the machine's processes share one
# group (conftest.py). PYTEST_PROCESSES=0 runs it in this one process.
PYTEST_PROCESSES ?= 2
PARALLEL := $(if $(filter-out 0,$(PYTEST_PROCESSES)),-n $(PYTEST_PROCESSES) --dist loadgroup)

test: setup browser-deps book-test-deps netns-deps
	COURSE_DATA=$(TEST_DATA) $(BIN)/python -m pytest $(PARALLEL) tests notebooks $(NBVAL)
	@$(MAKE) --no-print-directory test-colab-when-possible
	@$(MAKE) --no-print-directory test-py312-when-possible

# The fast tests: lint, and the tests that need no TensorFlow and no TFF. .venv-fast
# holds requirements-dev.txt and FAST_RUNTIME, their dependencies held to the stack's
# pins. Chosen by running every test file there (after `make test-fast`:
# `for f in tests/test_*.py; do .venv-fast/bin/python -m pytest -q $f; done`); the
# files that pass belong here. `make test` runs these tests too, and checks that this
# target passes in a clone with nothing beside it (tests/test_fork.py).
FAST_VENV := .venv-fast
# The course's light runtime pieces (no TensorFlow): `import course_utils` and the
# authoring tools need no more (tests/test_layers.py checks it); matplotlib because
# `nav --check` draws the diagrams to compare them (course_utils/diagrams.py).
FAST_RUNTIME := numpy nbformat nbclient PyYAML psutil matplotlib
# (test_lab.py's `make lab` test is not among them: `make lab` sets up the whole stack.)
FAST_TESTS := tests/test_workflows.py tests/test_requirements.py tests/test_tiers.py \
	tests/test_layers.py tests/test_numbers_in_prose.py tests/test_learner_pages.py \
	tests/test_structure.py tests/test_learner_copy.py tests/test_book_sources.py \
	tests/test_benchmark_results.py tests/test_bootstrap.py tests/test_deploy.py \
	tests/test_exercises_base.py tests/test_exercises_nb02.py tests/test_full_scale_standin.py \
	tests/test_lab.py tests/test_stacks.py tests/test_binder.py tests/test_parallel.py \
	tests/test_retry.py tests/test_malloc.py \
	--deselect tests/test_binder.py::test_binder_badge_opens_jupyterlab_at_the_notebook \
	--deselect tests/test_lab.py::test_make_lab_serves_the_course

$(FAST_VENV)/.installed: requirements-dev.txt $(REQUIREMENTS) Makefile
	@tools/check_python.sh "$(PYTHON)"
	@test -x $(FAST_VENV)/bin/python || $(PYTHON) -m venv $(FAST_VENV)
	$(RETRY) $(FAST_VENV)/bin/pip install --quiet -r requirements-dev.txt $(FAST_RUNTIME) -c $(REQUIREMENTS)
	@touch $@

test-fast: $(FAST_VENV)/.installed
	$(FAST_VENV)/bin/ruff check
	COURSE_DATA=$(TEST_DATA) $(FAST_VENV)/bin/python -m pytest $(FAST_TESTS)

# `make test`'s pytest run in two parts (GitHub runs them in parallel jobs): the unit
# tests (the browser and book tests aside: make test-browser), and every notebook.
test-units: setup-dev netns-deps
	COURSE_DATA=$(TEST_DATA) $(BIN)/python -m pytest tests --ignore=tests/e2e

test-notebooks: setup-dev
	COURSE_DATA=$(TEST_DATA) $(BIN)/python -m pytest notebooks $(NBVAL)

# The network-namespace test alone (root; GitHub's scheduled job, in a privileged container).
test-netns: setup-dev netns-deps
	COURSE_DATA=$(TEST_DATA) $(BIN)/python -m pytest tests/test_netns_cluster.py

# Each tier runs when its Python is found; otherwise it says why it is skipped (and
# fails instead when COURSE_REQUIRE_TIERS=1, as CI sets).
test-colab-when-possible:
	@tools/tier_when_possible.sh "Colab-equivalent tier" 3.13 COLAB_PYTHON "$(COLAB_PYTHON)" test-colab

test-py312-when-possible:
	@tools/tier_when_possible.sh "Python 3.12 tier" 3.12 PY312_PYTHON "$(PY312_PYTHON)" test-py312

$(COLAB_STAMP): requirements-modern.txt requirements-dev.txt tests/colab/fake_google_colab/google/colab/__init__.py
	@test -n "$(COLAB_PYTHON)" || { echo "error: make test-colab needs Python 3.13: make COLAB_PYTHON=/path/to/python3.13 test-colab" >&2; exit 1; }
	@test -x $(COLAB_VENV)/bin/python || $(COLAB_PYTHON) -m venv $(COLAB_VENV)
	$(RETRY) $(COLAB_VENV)/bin/python -m pip install --upgrade --quiet pip
	$(RETRY) $(COLAB_VENV)/bin/pip install -r requirements-modern.txt
	$(RETRY) $(COLAB_VENV)/bin/pip install -r requirements-dev.txt
	$(COLAB_VENV)/bin/python tests/colab/make_colab_like.py
	@touch $(COLAB_STAMP)

# Like Colab: no TFF, no course package until each notebook's first cell installs them
# (from this checkout: COURSE_INSTALL_FROM); then the unit tests on that stack. The
# learner copies only: the solved copies differ in their exercise cells, which the
# grader's tests run on this stack with their checkers (COLAB_UNIT_TESTS), and the
# classic run puts them under nbval whole. Notebook 00 runs first, alone: its first cell
# installs the course and TFF; the others' first cells find them installed (pip does not
# run again), so they run two at a time.
COLAB_NOTEBOOK_ENV = COURSE_DATA=$(TEST_DATA) COURSE_INSTALL_FROM=$(CURDIR) IPYTHONDIR=$(CURDIR)/$(COLAB_VENV)/ipython
test-colab: $(COLAB_STAMP)
	$(COLAB_VENV)/bin/python tests/colab/make_colab_like.py --fresh-runtime
	$(COLAB_NOTEBOOK_ENV) $(COLAB_VENV)/bin/python -m pytest notebooks/00_*.ipynb $(NBVAL)
	$(COLAB_NOTEBOOK_ENV) $(COLAB_VENV)/bin/python -m pytest $(PARALLEL) \
	  $(filter-out notebooks/00_%,$(wildcard notebooks/*.ipynb)) $(NBVAL)
	COURSE_DATA=$(TEST_DATA) $(COLAB_VENV)/bin/python -m pytest $(PARALLEL) $(COLAB_UNIT_TESTS)

# The solved copies whole on the Colab-equivalent stack: GitHub's scheduled job (the
# classic part runs them on every push; test-colab runs their exercise cells through
# the checkers).
test-colab-solutions: $(COLAB_STAMP)
	$(COLAB_VENV)/bin/python tests/colab/make_colab_like.py --fresh-runtime
	$(COLAB_NOTEBOOK_ENV) $(COLAB_VENV)/bin/python -m pytest notebooks/solutions/*.ipynb $(NBVAL)

# The Python 3.12 tier (Ubuntu 24.04's Python): the modern stack set up on 3.12 by
# `make setup`'s own recipe (into .venv-py312), then doctor, a short train, every
# command's clean exit (tests/test_clean_exit.py) and notebook 05 under nbval. A smoke
# tier: the Colab tier runs everything else on the same pins with Python 3.13.
test-py312:
	@test -n "$(PY312_PYTHON)" || { echo "error: make test-py312 needs Python 3.12: make PY312_PYTHON=/path/to/python3.12 test-py312" >&2; exit 1; }
	@$(MAKE) --no-print-directory setup-dev PYTHON="$(PY312_PYTHON)" VENV=$(PY312_VENV)
	COURSE_DATA=$(TEST_DATA) $(PY312_VENV)/bin/python -m course_utils doctor
	COURSE_DATA=$(TEST_DATA) $(PY312_VENV)/bin/python -m course_utils train --algorithm fedavg --rounds 2 --no-progress
	COURSE_DATA=$(TEST_DATA) $(PY312_VENV)/bin/python -m pytest $(PARALLEL) tests/test_clean_exit.py \
	  notebooks/05_fedavg_from_scratch.ipynb $(NBVAL)

run: setup
	$(BIN)/python tools/run_notebooks.py

test-browser: setup browser-deps book-test-deps
	COURSE_DATA=$(TEST_DATA) $(BIN)/python -m pytest tests/e2e -s

test-binder: setup-dev
	RUN_BINDER_TEST=1 $(BIN)/python -m pytest tests/test_binder.py -s

nav: setup
	$(BIN)/python -m course_utils nav

doctor: setup
	$(BIN)/python -m course_utils doctor

clean-venv:
	rm -rf $(VENV) $(COLAB_VENV) $(PY312_VENV) $(FAST_VENV)
