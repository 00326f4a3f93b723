"""Tuning methods: how a model is wrapped for training and how the result is saved.

One method = one small file registering a ``Method``; ``METHODS.get(name)`` lists the known ones.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from ils.registry import Registry


class Method:
    """Wrap a model for training (``apply``) and save what was trained (``save``)."""

    name = ""
    folder = "adapter"  # where in the run folder the result goes: adapter/ or model/

    def apply(self, model: Any, cfg: Any) -> Any:
        """Return the model ready to train (only the parameters to train require grad)."""
        return model

    def save(self, model: Any, tokenizer: Any, dest: Path) -> None:
        model.save_pretrained(dest, safe_serialization=True)
        tokenizer.save_pretrained(dest)


METHODS: Registry[type[Method]] = Registry("method")
_BUILTIN = ("ils.train.methods.lora", "ils.train.methods.full")


def get_method(name: str) -> Method:
    for module in _BUILTIN:
        importlib.import_module(module)
    return METHODS.get(name)()


def trainable_state(model: Any) -> dict:
    """The parameters being trained, detached copies keyed by name (what a checkpoint stores)."""
    return {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}


def load_trainable(model: Any, state: dict) -> None:
    params = dict(model.named_parameters())
    missing = [k for k in state if k not in params]
    if missing:
        raise KeyError(f"checkpoint has parameters the model lacks: {missing[:3]}")
    with __import__("torch").no_grad():
        for k, v in state.items():
            params[k].copy_(v)
