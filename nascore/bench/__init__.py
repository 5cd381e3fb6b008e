"""Benchmarks of strategies (``nas bench``)."""
