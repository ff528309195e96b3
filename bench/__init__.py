"""Benchmarks of the credit grants service on DynamoDB Local (`make bench`, `python -m bench`).

Everything is measured in one run against one DynamoDB Local, so the figures compare as ratios
(operation / floor, size N / size 1); the absolute numbers are DynamoDB Local's on this machine,
not AWS's. Output: BENCHMARKS.md and bench/plots/*.png. BENCH_QUICK=1 for a smoke run.
"""
