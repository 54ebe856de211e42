"""Adapters: Models that wrap other Models (a critic over a solver, retrieval over a reader).

An adapter speaks the same Model protocol as a backend, so the engine, the cache and the run
store treat `critic-cot:hf:./ckpt` exactly like `hf:./ckpt`.
"""
