# make demo: install what the demo needs, train on the generated synthetic set, cluster it, print scores and paths.
# make test: install the test extras, the pretrained encoders' extras and the system services (SLURM, Chromium), run every test that can run here.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= logs/demo/$(shell date +%Y-%m-%d_%H-%M-%S)
# CPU wheel of torch first (local on the project's machines), so nothing pulls a CUDA build
TORCH := torch==2.13.0
# make test's parallel workers (pytest-xdist; each test file stays on one worker: SLURM, DDP and browser tests
# keep their order); most of the suite waits on subprocesses, so 2 workers halve it on 2 cores
TEST_WORKERS ?= 2

.PHONY: install install-dev install-encoders demo test lint bench gpu-check sysdeps sysdeps-browser slurm slurm-stop clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q $(TORCH) || $(BIN)/pip install -q $(TORCH) --index-url https://download.pytorch.org/whl/cpu

$(VENV)/.installed: pyproject.toml $(BIN)/python
	$(BIN)/pip install -q -e ".[cpu]"
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

# The pretrained encoders' extras, as the registry declares them (conf/encoder + each adapter's extra and no_deps;
# docs/encoders.md): some pin old or broken dependencies, so their extras bring the real ones and those packages
# themselves go in with --no-deps.
REGISTRY = $(BIN)/python -m audioclust.embed.encoders.registry
$(VENV)/.installed-encoders: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install -q -e ".[$$($(REGISTRY) --extras)]"
	pins="$$($(REGISTRY) --no-deps)"; [ -z "$$pins" ] || $(BIN)/pip install -q --no-deps $$pins
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev
install-encoders: $(VENV)/.installed-encoders

demo: $(VENV)/.installed
	$(BIN)/audioclust-train experiment=demo hydra.run.dir=$(DEMO_DIR)
	$(BIN)/audioclust-cluster run_dir=$(DEMO_DIR) hydra.run.dir=$(DEMO_DIR)/fit
	@echo "outputs: $(DEMO_DIR)  (clusters and scores in $(DEMO_DIR)/fit)"

test: $(VENV)/.installed-dev $(VENV)/.installed-encoders sysdeps lint
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=20

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

# One at a time (each times the whole machine); each writes its section of BENCHMARKS.md.
bench: $(VENV)/.installed-dev
	$(BIN)/pip install -q -e ".[bench]"
	$(BIN)/python bench/frontend.py
	$(BIN)/python bench/kmeans.py
	$(BIN)/python bench/scaling.py
	$(BIN)/python bench/train_throughput.py
	$(BIN)/python bench/end_to_end.py

# The GPU paths on a machine with a CUDA GPU, in a few minutes, one line per check (bench/gpu_check.py). It uses the
# Python you installed CUDA torch and audioclust[gpu] into (PY=...), not the CPU venv above.
gpu-check:
	$(PY) bench/gpu_check.py

# System services the tests use, set up for CI (root + apt-get; elsewhere their tests skip): Chromium, SLURM.
sysdeps: sysdeps-browser slurm

sysdeps-browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then echo "sysdeps-browser: chromium and chromedriver present"; \
	elif [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
	  echo "sysdeps-browser: not root or no apt-get: skipping chromium install (browser tests will skip)"; \
	else echo "sysdeps-browser: apt-get install -y chromium chromium-driver"; \
	  (export DEBIAN_FRONTEND=noninteractive; apt-get install -y -q chromium chromium-driver || (apt-get update -q && apt-get install -y -q chromium chromium-driver)) >/dev/null \
	  || echo "sysdeps-browser: install failed (browser tests will skip)"; fi

# slurm: a real single-node SLURM cluster on localhost for tests/launch/test_slurm.py (root + apt-get only)
slurm:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then bash tests/slurm/start_cluster.sh; \
	else echo "slurm: skipped (needs root and apt-get); the SLURM tests will skip"; fi

slurm-stop:
	bash tests/slurm/start_cluster.sh stop

clean:
	rm -rf logs .cache
