# make demo: install, train on the embedded synthetic set, cluster it, print scores and output paths.
# make test: install, run every test that can run on this machine.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= logs/demo/$(shell date +%Y-%m-%d_%H-%M-%S)

.PHONY: install demo test bench clean sysdeps-browser slurm slurm-stop

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	# CPU wheel of torch first (local on the project's machines), so nothing pulls a CUDA build
	$(BIN)/pip install -q torch==2.13.0 || $(BIN)/pip install -q torch --index-url https://download.pytorch.org/whl/cpu
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python train.py experiment=demo hydra.run.dir=$(DEMO_DIR)
	$(BIN)/python cluster.py run_dir=$(DEMO_DIR) hydra.run.dir=$(DEMO_DIR)/fit
	@echo "outputs: $(DEMO_DIR)  (clusters and scores in $(DEMO_DIR)/fit)"

test: $(STAMP) sysdeps-browser slurm
	$(BIN)/python -m pytest -q

# Headless chromium + chromedriver for tests/test_explorer_browser.py (Debian packages; root with apt-get only).
sysdeps-browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then echo "sysdeps-browser: chromium and chromedriver present"; \
	elif [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
	  echo "sysdeps-browser: not root or no apt-get: skipping chromium install (browser tests will skip)"; \
	else echo "sysdeps-browser: apt-get install -y chromium chromium-driver"; \
	  (export DEBIAN_FRONTEND=noninteractive; apt-get install -y -q chromium chromium-driver || (apt-get update -q && apt-get install -y -q chromium chromium-driver)) >/dev/null \
	  || echo "sysdeps-browser: install failed (browser tests will skip)"; fi

# One at a time (each times the whole machine); each writes its section of BENCHMARKS.md.
bench: $(STAMP)
	$(BIN)/pip install -q -e ".[bench]"
	$(BIN)/python bench/frontend.py
	$(BIN)/python bench/kmeans.py
	$(BIN)/python bench/scaling.py
	$(BIN)/python bench/train_throughput.py
	$(BIN)/python bench/end_to_end.py

# slurm: a real single-node SLURM cluster on localhost for tests/test_slurm.py (root + apt-get only)
slurm:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then bash tests/slurm/start_cluster.sh; \
	else echo "slurm: skipped (needs root and apt-get); tests/test_slurm.py will skip"; fi

slurm-stop:
	bash tests/slurm/start_cluster.sh stop

clean:
	rm -rf logs .cache
