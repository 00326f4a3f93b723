"""Inference backends; each module registers one engine factory in ``ils.infer.engines.ENGINES``."""
