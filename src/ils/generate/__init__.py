"""Self-instruct generation: grow instruction sets from seed tasks (``self_instruct``, ``run``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ils.generate.backends import EngineBackend, OpenAIBackend, make_backend
from ils.generate.output import write_dataset
from ils.generate.prompts import load_seeds
from ils.generate.selfinstruct import SelfInstructConfig, self_instruct

__all__ = ["EngineBackend", "OpenAIBackend", "SelfInstructConfig", "load_seeds", "make_backend", "run",
           "self_instruct", "write_dataset"]


def run(seeds: str | Path, out_dir: str | Path, cfg: SelfInstructConfig, backend: Any,
        on_round: Callable[[dict], None] | None = None) -> dict:
    """Seeds file → rounds (resumable) → dataset folder; returns the manifest."""
    tasks, errors = load_seeds(seeds)
    out = Path(out_dir)
    try:
        self_instruct(tasks, backend, out, cfg, on_round)
    except KeyboardInterrupt:  # stopped by hand: the journals are complete, so write what is there
        write_dataset(out, cfg.seed, {"seeds": str(seeds), "interrupted": True})
        raise
    info = {"seeds": str(seeds), "seed_tasks": len(tasks), "bad_seed_records": [str(e) for e in errors],
            "backend": getattr(backend, "name", "?"), "config": {k: v for k, v in vars(cfg).items() if k != "limits"}}
    return write_dataset(out, cfg.seed, info)
