"""Benchmarks of dw-archive (`make bench`); run on demand, never in CI."""
