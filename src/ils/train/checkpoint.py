"""Checkpoints that resume exactly: trained weights, optimizer, scheduler, RNG and data position.

Each checkpoint is written to a temp folder and renamed, so a run killed while saving leaves the
previous checkpoint intact. Files are our own (safetensors + a tensor-only torch file), and are read
back with ``weights_only=True``.
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from ils.io import RunDir, atomic_path
from ils.train.methods import load_trainable, trainable_state


@dataclass
class Progress:
    """Where training is: the step done, and the next micro-batch (epoch, index) to consume."""

    step: int = 0
    epoch: int = 0
    index: int = 0
    best_val: float | None = None
    best_step: int | None = None
    bad_evals: int = 0


def save_checkpoint(run: RunDir, progress: Progress, model: Any, optimizer: Any, scheduler: Any,
                    keep: int) -> Path:
    dest = run.checkpoint(progress.step)
    with atomic_path(dest) as tmp:
        tmp.mkdir()
        save_file({k: v.contiguous() for k, v in trainable_state(model).items()}, tmp / "trainable.safetensors")
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "torch_rng": torch.get_rng_state()}, tmp / "optimizer.pt")
        state = {"progress": asdict(progress), "python_rng": _py_rng_to_json()}
        (tmp / "state.json").write_text(json.dumps(state))
    _prune(run, keep)
    return dest


def load_checkpoint(path: Path, model: Any, optimizer: Any, scheduler: Any) -> Progress:
    load_trainable(model, load_file(path / "trainable.safetensors"))
    blob = torch.load(path / "optimizer.pt", weights_only=True)
    optimizer.load_state_dict(blob["optimizer"])
    scheduler.load_state_dict(blob["scheduler"])
    state = json.loads((path / "state.json").read_text())
    torch.set_rng_state(blob["torch_rng"])
    _py_rng_from_json(state["python_rng"])
    return Progress(**state["progress"])


def _py_rng_to_json() -> list:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def _py_rng_from_json(state: list) -> None:
    random.setstate((state[0], tuple(state[1]), state[2]))


def _prune(run: RunDir, keep: int) -> None:
    done = sorted(p for p in run.checkpoints.glob("step-*") if (p / "state.json").is_file())
    for old in done[: max(0, len(done) - keep)]:
        shutil.rmtree(old, ignore_errors=True)
