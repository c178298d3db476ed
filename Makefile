# `make run` starts the app, `make test` runs the whole suite; both set up .venv on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export QT_QPA_PLATFORM ?= $(if $(DISPLAY),,offscreen)

.PHONY: run test lint format setup clean bench-engine bench-noc bench-auto bench-ui bench-cache bench-switching \
	bench-persam bench-firstday bench-reliability bench-scale bench-models bench-formats bench-boxes \
	bench-cluster bench-classic bench-click

setup: $(STAMP)

# torch is installed first and pinned: the CPU wheel 2.13.0 is what this machine serves locally, and a bare
# `torch` requirement would otherwise pull several GB of CUDA packages.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(PY) main.py $(ARGS)

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# One command per benchmark; results are recorded in docs/BENCHMARKS.md.
SHARED ?= ../shared

bench-engine: $(STAMP)
	$(PY) -m benchmarks.engine

bench-noc: $(STAMP)
	$(PY) main.py bench noc --dataset $(SHARED)/datasets/grabcut --engine classic --max-clicks 20 --out-dir out/noc

bench-auto: $(STAMP)
	$(PY) -m benchmarks.automatic --points-per-side 32

bench-ui: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m benchmarks.ui

bench-cache: $(STAMP)
	$(PY) -m benchmarks.cache

bench-switching: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m benchmarks.switching --models tiny,vit_b

bench-persam: $(STAMP)
	$(PY) -m benchmarks.persam --repeats 8

bench-boxes: $(STAMP)
	$(PY) -m benchmarks.boxes --repeats 3

bench-firstday: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m benchmarks.firstday --checkpoint $(SHARED)/reference/mobilesam/mobilesam_a.pth

# Issue 13: the classical engine's click on a 2 MP image, in process and in its child process, and the GIL.
bench-classic: $(STAMP)
	$(PY) -m benchmarks.classic_decode $(BENCH_ARGS)

# Issue 14: export of 2,000 objects on 50 images in each format (target <= 5 s each).
bench-formats: $(STAMP)
	$(PY) -m benchmarks.formats

# Issue 15 figures (ADR 0009); the short default run takes about a minute, --full the issue's counts.
bench-reliability: $(STAMP)
	$(PY) -m benchmarks.reliability --full

# Issue 15 item 4: per-change cost with 2,000 objects on an image and 5,000 images (core and the offscreen app).
bench-scale: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m benchmarks.scale $(BENCH_ARGS)

# Our engines against upstream, same run, both sides with the same allocator setting (sam_model.allocator): UPSTREAM is a folder holding clones of segment-anything, MobileSAM and
# sam2 (see benchmarks/models.py); a missing one leaves its column empty. BENCH_ARGS=--quick for a smoke run.
UPSTREAM ?= ../upstream
bench-models: $(STAMP)
	$(PY) -m benchmarks.models --upstream-sam $(UPSTREAM)/segment-anything \
		--upstream-mobilesam $(UPSTREAM)/MobileSAM --upstream-sam2 $(UPSTREAM)/sam2 --upstream-allocator $(BENCH_ARGS)

# Issue 10: one click, ours against upstream in one process, clicks interleaved (same load on both sides).
bench-click: $(STAMP)
	$(PY) -m benchmarks.click --upstream $(UPSTREAM) $(BENCH_ARGS)

# Issue 16: the cluster path (local Ray, 2 CPUs) against the single-process command, tiny reference SAM.
bench-cluster: $(STAMP)
	$(PY) -m benchmarks.cluster $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .import_linter_cache
