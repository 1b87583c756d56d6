# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: demo test bench clean

# -W drops setuptools' notice that an editable install follows the working tree: that is what `make` wants here.
$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -W "ignore:Editable installation" -m pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

demo: $(INSTALLED)
	$(PY) -m tools.demo
	$(PY) -m tools.demo_local

test: $(INSTALLED)
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info

# Benchmarks (bench/RESULTS.md has the figures). Each prints its own figures and ratios; none asserts a time.
.PHONY: bench-simulator bench-throughput bench-cpu bench-scale bench-scale-skip bench-incremental bench-soak bench-soak-broken-bodies bench-pacing bench-literal-eval

bench: bench-throughput bench-cpu bench-incremental bench-soak

bench-simulator: $(INSTALLED)
	$(PY) bench/bench_simulator.py

bench-throughput: $(INSTALLED)
	$(PY) -m bench.bench_throughput --limits 60,20 --workers unset

bench-cpu: $(INSTALLED)
	$(PY) -m bench.bench_cpu --workers 10,1

# 1,000,000 emails: many minutes on a 2-core machine.
bench-scale: $(INSTALLED)
	$(PY) -m bench.bench_scale

# The whole history in one window: the walk passes Close's _skip cap of 250,000 three times.
bench-scale-skip: $(INSTALLED)
	$(PY) -m bench.bench_scale --window-days 3650 --max-skip 250000

bench-incremental: $(INSTALLED)
	$(PY) -m bench.bench_incremental

# Close-style per-group windows under two groupings: wall time vs the bound the windows allow.
bench-pacing: $(INSTALLED)
	$(PY) -m bench.bench_pacing --scale medium --runs path:60,close:240

# The literal_eval guard with and without answering names first, alternated in one invocation.
bench-literal-eval: $(INSTALLED)
	$(PY) -m bench.bench_literal_eval --rounds 3

bench-soak: $(INSTALLED)
	$(PY) -m bench.bench_soak

bench-soak-broken-bodies: $(INSTALLED)
	$(PY) -m bench.bench_soak --broken-bodies

# source_close_com/manifest.bundled.yaml: the manifest with every stream schema inlined, the one file Airbyte's
# manifest-only runtime and the Connector Builder take (with components.py). `--check` only verifies it is current.
.PHONY: manifest
manifest: $(INSTALLED)
	$(PY) -m tools.build_manifest
