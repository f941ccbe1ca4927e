# Two commands for students: `make lab` and `make test`. Both create .venv on
# first use (pinned requirements + the editable library) and register nothing
# outside this folder.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8888
NB_TIMEOUT ?= 900

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help venv lab test test-lib test-notebooks test-browser execute student bench lint clean

help:
	@echo "make lab      open JupyterLab on notebooks/ (creates .venv on first use)"
	@echo "make test     unit tests + every notebook under nbval in the smoke profile"
	@echo "make test-browser  only the JupyterLab walkthrough in headless Chromium"
	@echo "make execute  re-execute every notebook in the class profile, saving outputs"
	@echo "make student  write student versions (solutions stripped) to student/"
	@echo "make bench    run the side-by-side benchmarks in benchmarks/"
	@echo "make lint     ruff over lib, tests, benchmarks and notebooks"

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "Python 3.10+ is needed, found " + sys.version.split()[0]'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=23.2"
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Jupyter refuses to run as root unless told; containers and CI often are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks --port=$(PORT) $(ROOT_FLAG) $(LAB_ARGS)

# SSM_METARL_GRADING=1: a check cell of an instructor notebook whose solution is
# missing raises (in class it would print one line), so nbval proves every check passes.
# TEST_WORKERS processes share the work (pytest-xdist); --dist loadscope keeps each
# test module and each notebook on one worker, so a notebook's cells run in order
# in one kernel. One torch/BLAS thread per worker: two workers on two cores with two
# threads each stall on oversubscription. TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2
XDIST := $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadscope)
THREADS := $(if $(filter 0,$(TEST_WORKERS)),,OMP_NUM_THREADS=1 MKL_NUM_THREADS=1)
test: $(STAMP)
	$(THREADS) SSM_METARL_PROFILE=smoke SSM_METARL_GRADING=1 TQDM_DISABLE=1 MPLBACKEND=Agg $(BIN)/python -m pytest tests notebooks \
		$(XDIST) --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
		--nbval-cell-timeout=300 $(PYTEST_ARGS)

test-lib: $(STAMP)
	SSM_METARL_PROFILE=smoke TQDM_DISABLE=1 MPLBACKEND=Agg $(BIN)/python -m pytest tests $(PYTEST_ARGS)

test-notebooks: $(STAMP)
	SSM_METARL_PROFILE=smoke SSM_METARL_GRADING=1 TQDM_DISABLE=1 $(BIN)/python -m pytest notebooks \
		--nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
		--nbval-cell-timeout=300 $(PYTEST_ARGS)

# The walkthrough of tests/test_browser.py alone (also part of `make test`).
test-browser: $(STAMP)
	TQDM_DISABLE=1 $(BIN)/python -m pytest tests/test_browser.py -m browser $(PYTEST_ARGS)

# NOTEBOOKS=notebooks/01a_ssm_dynamics.ipynb make execute  re-executes just one.
NOTEBOOKS ?= $(sort $(wildcard notebooks/*.ipynb))
execute: $(STAMP)
	@for nb in $(NOTEBOOKS); do \
		echo "executing $$nb (profile class)"; start=$$(date +%s); \
		SSM_METARL_PROFILE=class TQDM_DISABLE=1 $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
			--ExecutePreprocessor.timeout=$(NB_TIMEOUT) --ExecutePreprocessor.kernel_name=python3 "$$nb" || exit 1; \
		echo "  $$nb took $$(( $$(date +%s) - start )) s"; \
	done

student: $(STAMP)
	$(BIN)/python -m ssm_metarl.exercises.student notebooks student

bench: $(STAMP)
	@for b in $(sort $(wildcard benchmarks/bench_*.py)); do \
		echo "== $$b"; $(BIN)/python $$b --threads 2 || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check lib tests benchmarks notebooks

clean:
	rm -rf student .pytest_cache screenshots
