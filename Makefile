# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH_PIN := torch==2.13.0

export RAY_USAGE_STATS_ENABLED ?= 0
export RAY_AUTH_MODE ?= disabled
export HYDRA_FULL_ERROR ?= 1
# small matrices on 2 cores: threaded BLAS only adds contention (7-30 ms instead of 0.2 ms seen here)
export OPENBLAS_NUM_THREADS ?= 1
export OMP_NUM_THREADS ?= 1

.PHONY: venv run test test-fast test-cluster bench reproduce reproduce-dynamic reproduce-quick clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, from the pinned CPU wheel: a looser range would pull a multi-GB CUDA build
	$(BIN)/python -m pip install --quiet $(TORCH_PIN)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/hdmoe-simulate compare=[ep,hybrid_cb]

# The numba kernels are compiled once, serially, before the parallel run: processes compiling into the same
# cache at once can crash (hdmoe_ray/workflows/warm_kernels.py).
# The Ray-cluster tests (tests/cluster) run last and alone, so their fault timings (1 min each) are not
# measured against the rest of the suite competing for the same cores; --durations prints them.
test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/python -m hdmoe_ray.workflows.warm_kernels
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup -m "not cluster"
	$(BIN)/python -m pytest -q -n 0 -m cluster --durations=10 tests/cluster

test-fast: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -m "not slow and not ray"

# The paper's evaluation from scratch: every repro_* sweep (conf/experiment/), tracked in one SQLite store, then
# docs/RESULTS.md and docs/results/*.png. A sweep that ends with failed trials (exit 3) goes on: the page lists them.
REPRO_DIR ?= outputs/reproduce
REPRO_EXPERIMENTS := repro_fig8 repro_fig9 repro_fig9_authors_search repro_fig8_physical repro_fig8_batch
REPRO_STORE = tracking.uri=sqlite:///$(abspath $(REPRO_DIR))/mlflow.db

reproduce: $(STAMP)
	rm -rf $(REPRO_DIR)
	for e in $(REPRO_EXPERIMENTS); do \
	  $(BIN)/hdmoe-sweep experiment=$$e $(REPRO_STORE) sweep.storage_path=$(abspath $(REPRO_DIR))/sweeps \
	    hydra.run.dir=$(REPRO_DIR)/runs/$$e || test $$? -eq 3 || exit 1; \
	done
	$(BIN)/hdmoe-report results_page=docs/RESULTS.md $(REPRO_STORE) hydra.run.dir=$(REPRO_DIR)/runs/report

# Dynamic placement (docs/dynamic.md): the static HD-MoE mapping of each hardware point optimised on the law task
# (B = 512), then one repro_dynamic sweep per point into the store of `make reproduce` (run that first), then the
# page again. Rerunning it reuses the mappings and resumes the sweeps.
DYNAMIC_POINTS := hdmoe_5t_50g:2:5t50g hdmoe_2p5t_75g:5:2p5t75g

reproduce-dynamic: $(STAMP)
	for p in $(DYNAMIC_POINTS); do \
	  hw=$${p%%:*}; rest=$${p#*:}; k=$${rest%%:*}; tag=$${rest#*:}; static=$(abspath $(REPRO_DIR))/static-$$hw-law; \
	  test -f $$static/mapping_hdmoe.npz || $(BIN)/hdmoe-optimize model=deepseek_v2_lite hardware=$$hw \
	    workload.batch_size=512 workload.category=law 'compare=[]' tracking=none hydra.run.dir=$$static || exit 1; \
	  sweep=repro-dynamic-$$tag; where="$(REPRO_STORE) sweep.storage_path=$(abspath $(REPRO_DIR))/sweeps"; \
	  if test -d $(abspath $(REPRO_DIR))/sweeps/$$sweep; then \
	    $(BIN)/hdmoe-sweep sweep.resume=$$sweep $$where hydra.run.dir=$(REPRO_DIR)/runs/dynamic-$$tag; \
	  else \
	    $(BIN)/hdmoe-sweep experiment=repro_dynamic hardware=$$hw strategy.dynamic.experts_per_layer=$$k \
	      strategy.mapping_path=$$static/mapping_hdmoe.npz sweep.id=$$sweep $$where \
	      hydra.run.dir=$(REPRO_DIR)/runs/dynamic-$$tag; \
	  fi || test $$? -eq 3 || exit 1; \
	done
	$(BIN)/hdmoe-report results_page=docs/RESULTS.md $(REPRO_STORE) hydra.run.dir=$(REPRO_DIR)/runs/report

# CI's reduced reproduction: Mixtral-8x7B at 10 TFLOPS / 25 GB/s, seeds 0-2; the page goes to $(REPRO_DIR)-quick/
reproduce-quick: $(STAMP)
	rm -rf $(REPRO_DIR)-quick
	$(BIN)/hdmoe-sweep experiment=repro_quick tracking.uri=sqlite:///$(abspath $(REPRO_DIR)-quick)/mlflow.db \
	  sweep.storage_path=$(abspath $(REPRO_DIR)-quick)/sweeps hydra.run.dir=$(REPRO_DIR)-quick/runs/sweep
	$(BIN)/hdmoe-report results_page=$(REPRO_DIR)-quick/RESULTS.md effect_seeds=[0] \
	  tracking.uri=sqlite:///$(abspath $(REPRO_DIR)-quick)/mlflow.db hydra.run.dir=$(REPRO_DIR)-quick/runs/report

# the cluster path alone: deploy/ manifests, a three-node Ray cluster and an MLflow server on this machine
test-cluster: $(STAMP)
	$(BIN)/python -m pytest -q tests/cluster

bench: $(STAMP)
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache
