"""Benchmarks. Run `make bench` (or `python -m bench --help`); record results in BENCHMARKS.md."""
