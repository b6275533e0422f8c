# The course's entry points. Each target creates .venv and installs the package when needed.
#   make course   run every notebook headless on data_samples/ (executed copies in runs/course/)
#   make test     run the test suite
#   make lab      open JupyterLab on notebooks/ with the course kernel
#   make notebooks     rebuild notebooks/*.ipynb from tools/notebook_sources/*.py (jupytext)
#   make lab-check     the instructor's widget check in Chromium (tools/check_lab_widgets.py)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed.stamp
export TF_CPP_MIN_LOG_LEVEL ?= 3
export PYTHONHASHSEED ?= 0

.PHONY: course test lab check notebooks lab-check benchmarks clean-runs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

course: $(STAMP)
	$(BIN)/atomicvad check
	$(BIN)/atomicvad course

test: $(STAMP)
	$(BIN)/python -m pytest

lab: $(STAMP)
	$(BIN)/python -m ipykernel install --sys-prefix --name atomicvad --display-name "AtomicVAD (.venv)"
	$(BIN)/jupyter lab notebooks/

check: $(STAMP)
	$(BIN)/atomicvad check

# --update keeps the committed cell ids (and would keep outputs, which the tests refuse)
notebooks: $(STAMP)
	for source in tools/notebook_sources/[0-9][0-9]_*.py; do \
	    $(BIN)/jupytext --quiet --update --to ipynb \
	        --output notebooks/$$(basename $$source .py).ipynb $$source || exit 1; \
	done

lab-check: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[lab-check]"
	$(BIN)/python tools/check_lab_widgets.py

clean-runs:
	rm -rf runs figures
