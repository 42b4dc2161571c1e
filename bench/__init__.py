"""Benchmarks of lambda-sidecar in the local Lambda environment (not part of the test suite).

Every script measures the built layer (`build/layer/`) against baselines run in the same process
with alternating order, and writes `bench/results/<name>.json`; `python -m bench.run_all`
runs them all and regenerates `docs/benchmarks.md` and the plots in `docs/img/`.
"""
