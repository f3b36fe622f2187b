"""Benchmarks: run from the project root, e.g. `.venv/bin/python -m bench.intake`."""
