"""Helpers that build small local models and data, so tests and benchmarks never download."""
