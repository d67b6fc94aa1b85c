# The book's two commands: `make book` and `make test`.
SHELL := /bin/bash
PROFILE ?= paper
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export MPLCONFIGDIR := $(CURDIR)/_build/.cache/matplotlib
export IPYTHONDIR := $(CURDIR)/_build/.cache/ipython
export JUPYTER_RUNTIME_DIR := $(CURDIR)/_build/.cache/jupyter
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: book test unit notebooks lint clean

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@echo "Installing requirements into $(VENV) (first run: a few minutes)..."
	@$(PY) -m pip install -q -r requirements.txt 2>&1 | grep -v "is ignored: it is neither" || true
	@$(PY) -m pip install -q --no-deps -e . 2>&1 | grep -v "is ignored: it is neither" || true
	@$(PY) -c "import torch, torchvision, helpers" || (echo "install failed" && exit 1)
	@touch $(STAMP)

book: $(STAMP)
	$(PY) -m helpers.book execute --profile $(PROFILE)
	$(PY) -m helpers.book build

test: unit notebooks

unit: $(STAMP)
	$(PY) -m pytest tests

notebooks: $(STAMP)
	ACTFN_PROFILE=quick $(PY) -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider chapters

lint: $(STAMP)
	$(VENV)/bin/ruff check helpers tests benchmarks

clean:
	rm -rf _build
