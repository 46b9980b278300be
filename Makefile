# Tensors for Neural Networks: the two commands learners and CI need, plus authoring helpers.
#
#   make lab    open the course in JupyterLab at the first notebook
#   make test   run the whole test suite
#
# Both create .venv from the pinned requirements the first time and reuse it afterwards.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The stamp is rebuilt (and the venv updated) only when a pin changes.
STAMP  := $(VENV)/.installed
# The website's tools (requirements-site.txt), installed on top by `make site` / `make test`.
SITE_STAMP := $(VENV)/.site-installed
PYTEST_WORKERS ?= 2
LAB_PORT ?= 8888
LAB_ARGS ?=
# JupyterLab refuses to run as root (as in containers and CI) unless told that it is fine.
LAB_ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: lab test lint venv student check-student execute-solutions nbval nbval-3x measure lock clean help grade badges browser stress nbgrader nbgrader-venv

help:
	@echo "make lab                 open the course in JupyterLab (notebooks/00_start_here.ipynb)"
	@echo "make test                run every test (creates .venv the first time)"
	@echo "make lint                ruff check and ruff format --check (make test runs it first)"
	@echo "make student             regenerate notebooks/ from solutions/"
	@echo "make execute-solutions   re-run solutions/ and store their outputs (for nbval)"
	@echo "make nbval-3x            run nbval strict on solutions/ three times in a row"
	@echo "make measure             time each notebook and record its peak memory"
	@echo "make stress              hunt flaky tests: torchrun 30x, then the suite 2x, beside 2 busy processes"
	@echo "make grade SUBMISSIONS=dir OUT=dir   grade submitted notebooks (docs/INSTRUCTORS.md)"
	@echo "make nbgrader OUT=dir    write the course as an nbgrader course (source/, nbgrader_config.py)"
	@echo "make badges              rewrite every notebook's Colab/Binder badges and setup cell (tensorlab/launch.py)"
	@echo "make site                build the course website into _site/ (make site-serve shows it)"

venv: $(STAMP)

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if v[:2] == (3, 11) else "This course pins Python 3.11 (found %d.%d). Run: make PYTHON=python3.11 ..." % v[:2])'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab --port=$(LAB_PORT) $(LAB_ROOT_FLAG) $(LAB_ARGS) notebooks/00_start_here.ipynb

test: lint $(STAMP) $(SITE_STAMP) browser nbgrader-venv
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# ruff (configured in pyproject.toml): lint and formatting, over the whole repository; `make test` runs it first.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Real nbgrader, in an environment of its own (its pins would fight the course's): the tests run it on
# `make nbgrader` output (tests/test_grading_nbgrader.py). The notebooks' kernel stays the course's .venv.
NBGRADER_VENV := .venv-nbgrader
nbgrader-venv: $(NBGRADER_VENV)/.installed

$(NBGRADER_VENV)/.installed: requirements-nbgrader.txt
	test -x $(NBGRADER_VENV)/bin/python || $(PYTHON) -m venv $(NBGRADER_VENV)
	$(NBGRADER_VENV)/bin/python -m pip install --quiet -r requirements-nbgrader.txt
	touch $@

# System packages the tests use: Debian's headless Chromium (the browser test) and bubblewrap (the
# grader's sandbox). Installed once with apt-get when root, quick when already there; elsewhere it
# says why and the tests that need them skip, saying so.
browser:
	@tools/ensure_browser.sh

# ---- the course as a website ---------------------------------------------------------------
# make site: a static site of the course in _site/, built from the stored outputs of solutions/
# (nothing is executed; tools/build_site.py). The first run installs the pinned site tools
# (requirements-site.txt) into .venv; the GitHub Pages workflow runs exactly `make site`.
.PHONY: site site-deps site-check site-serve
SITE_PORT ?= 8000
SITE_OUT ?= _site
SITE_WORK ?= build/site

site-deps: $(SITE_STAMP)

$(SITE_STAMP): requirements-site.txt $(STAMP)
	$(BIN)/python -m pip install --quiet -r requirements-site.txt -c constraints.txt
	touch $(SITE_STAMP)

site: $(SITE_STAMP)
	$(BIN)/python tools/build_site.py --out $(SITE_OUT) --work $(SITE_WORK)

# Is _site/ complete and built from the current sources?
site-check: $(STAMP)
	$(BIN)/python tools/build_site.py --check --out $(SITE_OUT)

# Look at the built site in a browser, offline: http://127.0.0.1:$(SITE_PORT)/
site-serve:
	@test -f $(SITE_OUT)/index.html || { echo "no $(SITE_OUT)/ yet: run make site"; exit 1; }
	$(BIN)/python -m http.server --directory $(SITE_OUT) --bind 127.0.0.1 $(SITE_PORT)

# ---- authoring ---------------------------------------------------------------------------
student: $(STAMP)
	$(BIN)/python -m tensorlab.authoring generate

check-student: $(STAMP)
	$(BIN)/python -m tensorlab.authoring check

execute-solutions: $(STAMP)
	$(BIN)/python -m tensorlab.authoring execute $(NOTEBOOKS)
	$(BIN)/python -m tensorlab.authoring generate
	$(BIN)/python tools/export_readme_figures.py   # the README's figures and speed numbers come from
	$(BIN)/python tools/export_readme_numbers.py   # the stored outputs, so they follow every re-run

# After changing the course's address (COURSE_REPO_URL / COURSE_BRANCH in src/tensorlab/launch.py),
# or after adding a notebook: badges and setup cells of solutions/, then notebooks/ regenerated.
badges: $(STAMP)
	$(BIN)/python -m tensorlab.authoring badges

nbval: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup solutions

nbval-3x: $(STAMP)
	for run in 1 2 3; do echo "== nbval run $$run of 3 =="; $(MAKE) --no-print-directory nbval || exit 1; done

# Not part of `make test` (30-60 min on 2 cores): see tools/stress.py and the README.
STRESS_ARGS ?=
stress: $(STAMP) browser
	$(BIN)/python tools/stress.py $(STRESS_ARGS)

measure: $(STAMP)
	$(BIN)/python tools/measure_notebooks.py --write docs/measurements.md

lock: $(STAMP)
	{ echo "# Full lock of every package the course installs (pip freeze of a working .venv)."; \
	  echo "# Regenerate with: make lock"; \
	  $(BIN)/python -m pip freeze --exclude-editable; } > constraints.txt

# ---- instructors ---------------------------------------------------------------------------
# make grade SUBMISSIONS=<folder of submitted notebooks> OUT=<folder for grades.csv, feedback/, logs/>
# (GRADE_ARGS passes options on, e.g. GRADE_ARGS="--jobs 4 --cell-timeout 60"; see docs/INSTRUCTORS.md)
grade: $(STAMP)
	@if [ -z "$(SUBMISSIONS)" ] || [ -z "$(OUT)" ]; then \
	  echo "usage: make grade SUBMISSIONS=<folder of submitted notebooks> OUT=<folder for the grades>"; \
	  echo "       (see docs/INSTRUCTORS.md)"; exit 2; fi
	$(BIN)/python -m tensorlab.grading "$(SUBMISSIONS)" "$(OUT)" $(GRADE_ARGS)

# make nbgrader OUT=<nbgrader course folder>: source/NN_name/NN_name.ipynb with nbgrader's cell metadata
# (answers, autograder tests with points, read-only cells) and nbgrader_config.py
nbgrader: $(STAMP)
	@if [ -z "$(OUT)" ]; then echo "usage: make nbgrader OUT=<folder for the nbgrader course>"; exit 2; fi
	$(BIN)/python -m tensorlab.nbgrader_export "$(OUT)"

clean:
	rm -rf $(VENV) $(NBGRADER_VENV) .pytest_cache artifacts _site build/site
