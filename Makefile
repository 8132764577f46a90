# The course's commands. Each target sets up .venv itself when needed (once).
#   make lab    set up, then open JupyterLab on notebooks/
#   make test   set up, then run all tests (unit tests + nbval on every notebook)
#   make run    set up, then execute every notebook in order, storing outputs (regenerate)
#   make nav    rewrite notebook headers/setup cells/footers + README table from the syllabus,
#               and the learner copies of exercise notebooks from their solved copies
#   make book   build the course as a static web book into build/book/_build/html
#   make test-browser  only the browser test (JupyterLab + headless Chromium)
#   make test-binder   the Binder build steps in a fresh venv (slow: installs TensorFlow)

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
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

.PHONY: setup lab test run doctor clean-venv nav browser-deps test-browser test-binder \
        netns-deps book book-deps book-test-deps

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
	COURSE_DATA=$(TEST_DATA) $(BIN)/python -m pytest tests notebooks \
	  --nbval-lax --nbval-current-env --sanitize-with notebooks/nbval_sanitize.cfg

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
	rm -rf $(VENV)
