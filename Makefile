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

.PHONY: venv run test test-fast bench clean

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

test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

test-fast: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -m "not slow and not ray"

bench: $(STAMP)
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache
