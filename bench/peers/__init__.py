"""Peer servers the serving benchmarks run side by side with ``ils serve``, each in its own environment.

A peer is started and stopped by the bench scripts (``from peers import vllm``: ``bench/`` is first on
``sys.path`` when a script there runs); nothing under ``src/`` depends on it.
"""
