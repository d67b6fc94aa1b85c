# The book's two commands: `make book` and `make test`.
#   make book                 execute every chapter (paper profile) and build _build/html
#   make book PROFILE=quick   the same with small subsets (what CI builds)
#   make test                 unit tests + nbval over every chapter (quick) + every chapter in
#                             the paper profile without training, built into a strict site
#                             (_build/paper) + quick site + browser check of both sites
#   make grid                 compute the paper grid and its activations extension
#                             (background, resumable; see below)
#   make results              compute the chapters' own paper experiments once (chapters 0-3,
#                             8 and 10)
SHELL := /bin/bash
PROFILE ?= paper
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
APT := $(shell [ "$$(id -u)" = 0 ] || echo sudo) env DEBIAN_FRONTEND=noninteractive apt-get
CACHE := $(CURDIR)/_build/.cache
export MPLCONFIGDIR := $(CACHE)/matplotlib
export IPYTHONDIR := $(CACHE)/ipython
export JUPYTER_RUNTIME_DIR := $(CACHE)/jupyter
export PYTHONDONTWRITEBYTECODE := 1
# nbval reads a cell's output only after the cell finishes and gives up after 5 s of
# silence; thousands of fast tqdm refreshes from a long cell overflow the kernel's IOPub
# queue (messages are dropped). Refresh bars at most every 2 s in headless runs.
export TQDM_MININTERVAL ?= 2

.PHONY: book site test test-quick test-checks unit notebooks paper-view browser paper-browser chromium \
	cachedirs lint clean grid plan results

# --- the paper grid (computes; the book only reads its committed results) ----------------
#   make grid                        resume the grids on the CPU, niced, in anytime order:
#                                    the paper's width-200 nets, MNIST 800, the activations
#                                    extension (chapter 9), CIFAR-10 800
#   make grid DEVICE=cuda            the same on a GPU
#   make grid GRID_BUDGET=90         stop cleanly after 90 minutes (rerun to resume)
#   make grid GRID_WORKERS=1         one process (default: one per CPU core, one on a GPU);
#                                    each worker trains the next shape of the queue that
#                                    no other process holds
DEVICE ?= cpu
GRID_BUDGET ?= 150
GRID_WORKERS ?= $(if $(filter cuda%,$(DEVICE)),1,$(shell nproc))
grid: $(STAMP)
	nice -n 19 $(PY) -m helpers.grid run --profile paper --grid all --dataset all --device $(DEVICE) \
		--time-budget $(GRID_BUDGET) --workers $(GRID_WORKERS) --no-progress

plan: $(STAMP)
	$(PY) -m helpers.grid plan --profile paper --device $(DEVICE)
	$(PY) -m helpers.grid plan --profile paper --grid activations --device $(DEVICE)

# --- the chapters' own paper experiments (helpers/chapter_results.py) -----------------------
# Chapters 0-3 train small experiments of their own (learning curves, sweeps, timings),
# chapter 8 fits linear probes to the grid's nets, and chapter 10 trains the small CIFAR-10
# CNNs of its sigmoid-versus-ReLU comparison. In the paper profile each runs once, here,
# and is committed under data/results/paper/chapters/; `make book` then only loads them.
# Results already there are loaded, not recomputed. Rerun after `make grid` adds 4x200 nets.
RESULTS_CHAPTERS := $(wildcard chapters/0[0-3]_*.ipynb chapters/08_*.ipynb chapters/10_*.ipynb)
results: $(STAMP) cachedirs
	nice -n 19 $(PY) -m helpers.book execute --profile paper \
		$(addprefix --chapter ,$(RESULTS_CHAPTERS))

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@echo "Installing requirements into $(VENV) (first run: a few minutes)..."
	@$(PY) -m pip install -q -r requirements.txt 2>&1 | grep -v "is ignored: it is neither" || true
	@$(PY) -m pip install -q --no-deps -e . 2>&1 | grep -v "is ignored: it is neither" || true
	@$(PY) -c "import torch, torchvision, helpers" || (echo "install failed" && exit 1)
	@touch $(STAMP)

cachedirs:
	@mkdir -p $(MPLCONFIGDIR) $(IPYTHONDIR) $(JUPYTER_RUNTIME_DIR)

# --- the website -----------------------------------------------------------------------
# In the paper profile the book only reads committed results: any attempt to train raises.
book: $(STAMP) cachedirs
	$(if $(filter paper,$(PROFILE)),ACTFN_NO_TRAIN=1) $(PY) -m helpers.book execute \
		--profile $(PROFILE)
	$(PY) -m helpers.book build

site: $(STAMP)  # rebuild the pages from the executed copies, without executing
	$(PY) -m helpers.book build

# --- tests -----------------------------------------------------------------------------
# Two lanes side by side on the two cores (TEST_JOBS=1: one after the other), each printed in
# one piece when it ends: the quick chapters under nbval, then the quick site built from the
# same quick grid (one after the other: both fill data/results/quick); and the unit tests,
# then the paper view.
TEST_JOBS ?= 2
test: $(STAMP) cachedirs
	@$(MAKE) --no-print-directory -j$(TEST_JOBS) --output-sync=recurse test-quick test-checks
	@$(MAKE) --no-print-directory paper-browser

test-quick: $(STAMP) cachedirs
	@$(MAKE) --no-print-directory notebooks && $(MAKE) --no-print-directory browser

test-checks: $(STAMP) cachedirs
	@$(MAKE) --no-print-directory unit && $(MAKE) --no-print-directory paper-view

unit: $(STAMP) cachedirs
	$(PY) -m pytest tests --ignore=tests/test_site.py -p no:cacheprovider

notebooks: $(STAMP) cachedirs
	chapters=$$($(PY) -m helpers.book list) && ACTFN_PROFILE=quick $(PY) -m pytest --durations=8 \
		--nbval-lax --nbval-current-env -p no:cacheprovider $$chapters

# The book is a view: the chapters in the paper profile, on the committed results, with
# training disabled (any attempt to train raises; see helpers.runtime.check_training_allowed).
# Chapters 0-3 load their `make results` experiments, 4-8 the grid's tables and 4x200
# checkpoints (a dataset whose nets are still missing renders as pending; chapter 8 probes a
# net live when `make results` has not stored its probes yet). Executed as `make book` does,
# into _build/paper/, and built into a strict site there (_build/paper/_build/html): what
# the published site's build would do, so a paper-profile page that would break it fails here.
paper-view: $(STAMP) cachedirs
	ACTFN_NO_TRAIN=1 $(PY) -m helpers.book execute --profile paper --build-dir _build/paper
	$(PY) -m helpers.book build --build-dir _build/paper

browser: $(STAMP) chromium
	@$(MAKE) --no-print-directory book PROFILE=quick
	ACTFN_REQUIRE_SITE=1 $(PY) -m pytest tests/test_site.py -p no:cacheprovider

# The same browser check on the paper-profile site paper-view built (after both lanes: the
# quick lane installed chromium by then).
paper-browser: $(STAMP) chromium
	ACTFN_SITE_BUILD_DIR=_build/paper ACTFN_REQUIRE_SITE=1 $(PY) -m pytest tests/test_site.py \
		-p no:cacheprovider

# Headless Chromium from Debian (never a downloaded browser); installed only when missing.
chromium:
	@command -v chromium >/dev/null || { \
	  echo "Installing Debian packages chromium and chromium-driver..."; \
	  $(APT) install -y -q chromium chromium-driver >/dev/null 2>&1 || { \
	    $(APT) update -q >/dev/null && $(APT) install -y -q chromium chromium-driver >/dev/null; }; }
	@command -v chromium >/dev/null || { echo "chromium is not installed"; exit 1; }

lint: $(STAMP)
	$(VENV)/bin/ruff check helpers tests benchmarks chapters

clean:
	rm -rf _build
