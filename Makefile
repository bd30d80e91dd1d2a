# `make sweep` runs the main job; `make test` runs the tests. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
STUDY  ?= paper-smoke
export SENET_DATA_ROOT ?= $(abspath ../shared/data)

.PHONY: venv test sweep report structure bench lint clean postgres slurm gpu-prepare gpu-rehearse

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest

sweep: $(STAMP)
	$(PY) run_sweep.py --suite paper --preset smoke --study $(STUDY)
	$(PY) -m report --study $(STUDY)

report: $(STAMP)
	$(PY) -m report --study $(STUDY)

structure: $(STAMP)
	$(PY) -m report structure --format md

bench: $(STAMP)
	$(PY) -m benchmarks

lint: $(STAMP)
	$(PY) -m ruff check .

clean:
	rm -rf runs reports .pytest_cache

postgres: $(STAMP)
	$(PY) -m tests.postgres

slurm: $(STAMP)
	$(PY) -m tests.slurm

gpu-prepare: $(STAMP)
	bash tools/gpu/prepare.sh

gpu-rehearse: $(STAMP)
	GPU_DIR=.gpu/rehearsal bash tools/gpu/prepare.sh --no-wheels --train 2000 --test 500
	GPU_DIR=.gpu/rehearsal bash tools/gpu/check.sh --rehearse
