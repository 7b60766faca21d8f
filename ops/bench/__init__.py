"""Benchmarks (not timed tests): run them, write the figures in RESULTS.md."""
