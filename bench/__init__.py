"""Benchmarks of ddd-transfer (see bench/README.md): run as ``python bench/delivery.py``."""
