# ViT from Scratch: build the book and run every test.
#
#   make book          the course as a website in _build/html (runs every notebook on the CPU, cached)
#   make book-student  the same site with the exercise solutions removed, in _build/student/html
#   make student       rewrite student/*.ipynb, the notebooks without solutions, from notebooks/
#   make test          unit tests, every notebook (nbval) and the headless-browser test of the built book
#   make unit          the package's tests alone (no book build, no browser): minutes, for daily work
#
# Each target creates .venv/ (once) and the CIFAR-10 data (once) when they are missing.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
# The two book builds share one notebook cache: never run them at the same time (make -j).
.NOTPARALLEL:

PYTHON_SYS ?= python3
VENV       := .venv
PY         := $(VENV)/bin/python
JB         := $(VENV)/bin/jupyter-book
STAMP      := $(VENV)/.installed

VIT_CORE_DATA ?= $(HOME)/.cache/vit_core/cifar10
export VIT_CORE_DATA
# Offline copy of CIFAR-10 beside the project (see ../shared/data/README.md).
SHARED_DATA ?= ../shared/data
# make book DOWNLOAD=1: without an offline copy, download CIFAR-10 with torchvision.
DOWNLOAD ?= 0

GENERATED := book/_generated
VENDOR    := $(GENERATED)/vendor
NPM_DIR   := _build/npm
# Sphinx warnings are errors; jupyter-book's -W stops at the first one, --keep-going lists them all.
JB_FLAGS  ?= -W --keep-going
PYTEST_FLAGS ?=

.PHONY: help book book-student student test unit data explorer vendor slides clean clean-all notebook-times

help:
	@echo "make book          build the book into _build/html"
	@echo "make book-student  build the book without solutions into _build/student/html"
	@echo "make student       rewrite student/ (the notebooks without solutions) from notebooks/"
	@echo "make test          run all tests (unit, notebooks, browser); builds the book first"
	@echo "make unit          run the package's tests only (no book, no browser, no notebooks)"
	@echo "make slides        one reveal.js deck per chapter into book/_generated/slides/ (make book does it)"
	@echo "make notebook-times  time each notebook on this machine -> vit_core/results/notebook_times.json"
	@echo "make clean         remove _build/ and book/_generated/ (keeps .venv/ and the data)"

# --- environment ---------------------------------------------------------------------------------
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	$(PY) -m pip install -e ".[dev,book]"
	@touch $@

# --- data ----------------------------------------------------------------------------------------
data: $(STAMP)
	@if [ -d "$(VIT_CORE_DATA)/cifar-10-batches-py" ]; then \
	  echo "CIFAR-10: $(VIT_CORE_DATA)/cifar-10-batches-py"; \
	elif [ -f "$(SHARED_DATA)/prepare_cifar10.py" ]; then \
	  $(PY) $(SHARED_DATA)/prepare_cifar10.py "$(VIT_CORE_DATA)"; \
	elif [ "$(DOWNLOAD)" = 1 ]; then \
	  $(PY) -c "from vit_core.data import load_cifar10; load_cifar10(download=True)"; \
	else \
	  echo "CIFAR-10 is missing from $(VIT_CORE_DATA) and there is no offline copy in $(SHARED_DATA)."; \
	  echo "Download it once (about 170 MB) with torchvision: make $(MAKECMDGOALS) DOWNLOAD=1"; \
	  echo "(or: python -m vit_core.train --preset laptop --download), or set VIT_CORE_DATA to a folder"; \
	  echo "that holds cifar-10-batches-py/."; \
	  exit 1; \
	fi

# --- offline JavaScript (RequireJS, Jupyter widgets HTML manager, MathJax, reveal.js) -------------
# Installed from the npm registry with the exact versions in package-lock.json, outside the source tree,
# then only the files the pages load are copied into book/_generated/vendor/ (served as _static/vendor/);
# anywidget's front end comes from its Python package in .venv/.
$(NPM_DIR)/node_modules/.package-lock.json: package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed once to fetch the book's JavaScript (apt-get install npm)"; exit 1; }
	mkdir -p $(NPM_DIR)
	cp package.json package-lock.json $(NPM_DIR)/
	cd $(NPM_DIR) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

$(VENDOR)/.stamp: $(NPM_DIR)/node_modules/.package-lock.json $(STAMP)
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)/html-manager $(VENDOR)/mathjax $(VENDOR)/anywidget
	cp $(NPM_DIR)/node_modules/requirejs/require.js $(VENDOR)/require.js
	cp $(NPM_DIR)/node_modules/@jupyter-widgets/html-manager/dist/embed-amd.js $(VENDOR)/html-manager/
	cd $(NPM_DIR)/node_modules/@jupyter-widgets/html-manager/dist && \
	  cp *.woff *.woff2 *.ttf *.eot *.svg $(CURDIR)/$(VENDOR)/html-manager/
	cd $(NPM_DIR)/node_modules/mathjax/es5 && \
	  cp -r tex-chtml.js input output ui a11y adaptors $(CURDIR)/$(VENDOR)/mathjax/
	rm -rf $(VENDOR)/mathjax/output/svg $(VENDOR)/mathjax/input/mml
	cp $(NPM_DIR)/node_modules/mathjax/LICENSE $(VENDOR)/mathjax/LICENSE
	# reveal.js for the slide decks: the core, the white theme with its font, the speaker notes
	mkdir -p $(VENDOR)/reveal.js/dist/theme/fonts $(VENDOR)/reveal.js/plugin
	cd $(NPM_DIR)/node_modules/reveal.js && \
	  cp LICENSE $(CURDIR)/$(VENDOR)/reveal.js/ && \
	  cp dist/reveal.js dist/reveal.css $(CURDIR)/$(VENDOR)/reveal.js/dist/ && \
	  cp dist/theme/white.css $(CURDIR)/$(VENDOR)/reveal.js/dist/theme/ && \
	  cp -r dist/theme/fonts/source-sans-pro $(CURDIR)/$(VENDOR)/reveal.js/dist/theme/fonts/ && \
	  cp -r plugin/notes $(CURDIR)/$(VENDOR)/reveal.js/plugin/
	# anywidget's AMD front end, from the installed Python package (so its version matches the kernel's)
	cp "$$($(PY) -c 'import anywidget, pathlib; print(pathlib.Path(anywidget.__file__).parent / "nbextension" / "index.js")')" \
	  $(VENDOR)/anywidget/index.js
	@touch $@

vendor: $(VENDOR)/.stamp

# --- the offline attention explorer (data + script) ----------------------------------------------
# Re-exported only when the package (code, front end, shipped checkpoints) changes: it runs the model.
EXPLORER_STAMP := $(GENERATED)/explorer/.stamp
$(EXPLORER_STAMP): $(STAMP) $(wildcard vit_core/*.py vit_core/static/* vit_core/checkpoints/*)
	$(PY) -m vit_core.export_explorer --checkpoint vit_laptop_cls --out $(GENERATED)/explorer
	$(PY) -m vit_core.export_explorer --checkpoint vit_laptop_hour --out $(GENERATED)/explorer_hybrid
	@touch $@

explorer: $(EXPLORER_STAMP)

# --- slides for teachers: one reveal.js deck per chapter, from its headings and figures -----------
# book/tools/make_slides.py reads the notebooks' markdown only (nothing runs); the decks load
# reveal.js and MathJax from vendor/, beside them in _static/.
SLIDES_STAMP := $(GENERATED)/slides/.stamp
$(SLIDES_STAMP): $(STAMP) book/tools/make_slides.py book/references.bib $(wildcard notebooks/*.ipynb book/figures/*)
	rm -rf $(GENERATED)/slides
	$(PY) book/tools/make_slides.py notebooks $(GENERATED)/slides
	@touch $@

slides: $(SLIDES_STAMP)

# --- the book ------------------------------------------------------------------------------------
book: $(STAMP) data vendor $(EXPLORER_STAMP) $(SLIDES_STAMP)
	$(JB) build . $(JB_FLAGS)
	@echo "Open _build/html/index.html"

# The student build shares the notebook cache, and writes to _build/student/_build/html
# (jupyter-book always adds _build/), linked as _build/student/html.
# Its notebooks are student/*.ipynb, committed copies of notebooks/ without solutions
# (`make student` rewrites them); the build stops when they are out of date.
book-student: $(STAMP) data vendor $(EXPLORER_STAMP) $(SLIDES_STAMP)
	$(PY) book/tools/make_student.py --check
	$(PY) book/tools/student_config.py _config.yml _toc.yml _build/student
	# Sphinx never deletes a page: start from an empty site, so none is left from older
	# sources (the notebooks stay cached).
	rm -rf _build/student/_build/html
	$(JB) build . $(JB_FLAGS) --config _build/student/_config.yml \
	  --toc _build/student/_toc.yml --path-output _build/student
	ln -sfn _build/html _build/student/html
	@echo "Open _build/student/html/index.html"

student: $(STAMP)
	$(PY) book/tools/make_student.py

# --- tests ---------------------------------------------------------------------------------------
# The browser test reads _build/html and _build/student/html, so both are built first (the notebooks run
# once, in the first build; later builds reuse the cache).
# As root (CI containers) a missing Chromium is installed from Debian; elsewhere the browser test
# skips with its reason unless CI=true.
test: book book-student
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi
	$(PY) -m pytest tests/ --nbval-lax notebooks/ student/ $(PYTEST_FLAGS)

unit: $(STAMP) data
	$(PY) -m pytest tests/ -m "not browser" $(PYTEST_FLAGS)

notebook-times: $(STAMP) data
	$(PY) book/tools/time_notebooks.py notebooks vit_core/results/notebook_times.json

clean:
	rm -rf _build $(GENERATED)

clean-all: clean
	rm -rf $(VENV)
