"""Benchmarks that run a baseline and tunesmith side by side and print the ratios.

tunesmith bench train --json bench_train.json     (tunesmith.bench.train.run_bench)
"""
