"""Benchmarks of the digit classifier on realistic inputs (not part of nn_core)."""
