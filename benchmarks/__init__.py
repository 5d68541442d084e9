"""Benchmarks: datasets, the runner with hard time limits, baselines, reports, throughput."""
