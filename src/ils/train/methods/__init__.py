"""Tuning methods: how a model is wrapped for training, what it promises to train, how it is saved.

One method = one small file registering a ``Method`` subclass (``METHODS`` finds the files
itself); ``METHODS.get(name)`` lists the known ones. A method declares its options as a pydantic
model (``Options``), read from ``method_options:`` in the train config (LoRA-family methods also
read the ``lora:`` block), and refuses configs (``check_config``) and models (``check``) it cannot
apply to -- before any training starts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from ils.errors import ConfigError
from ils.registry import Registry


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Method(ABC):
    """Wrap a model for training (``apply``) and save what was trained (``save``)."""

    name = ""
    folder = "adapter"  # where in the run folder the result goes: adapter/ or model/
    Options: type[BaseModel] = NoOptions
    causal_only = False  # True: needs a causal LM (prompt learning), not an encoder head
    embedding_access = True  # False: the wrapped model's input embeddings are out of reach (no FGM/PGD)

    def options(self, cfg: Any) -> Any:
        """The method's validated options; errors name the config field."""
        try:
            return self.Options.model_validate(cfg.method_options or {})
        except ValidationError as e:
            lines = [f"method_options.{'.'.join(map(str, err['loc']))}: {err['msg']} (method {self.name})"
                     for err in e.errors()]
            raise ConfigError("\n".join(lines)) from None

    def check_config(self, cfg: Any) -> None:
        """Raise ConfigError when the options or the model kind do not fit (no model needed)."""
        self.options(cfg)
        if self.causal_only and cfg.head.kind is not None:
            raise ConfigError(f"method {self.name!r} needs a causal LM, not an encoder head "
                              f"(head.kind: {cfg.head.kind}); use lora, adapter, bitfit, freeze or full")

    def check(self, model: Any, cfg: Any) -> None:
        """Raise ConfigError when this method cannot apply to ``model`` with ``cfg``."""
        self.check_config(cfg)

    def apply(self, model: Any, cfg: Any, total_steps: int) -> Any:
        """Return the model ready to train (only the parameters to train require grad)."""
        return model

    @abstractmethod
    def promised(self, model: Any, cfg: Any) -> int:
        """How many parameters ``apply`` will leave trainable, computed from the base model alone."""

    def after_optimizer_step(self, model: Any, step: int) -> None:
        """Per-step hook (AdaLoRA reallocates ranks here); runs before gradients are cleared."""

    def regularizer(self, model: Any) -> Any:
        """An extra loss term added once per optimizer step (AdaLoRA's orthogonality), or None."""
        return None

    def save(self, model: Any, tokenizer: Any, dest: Path) -> None:
        model.save_pretrained(dest, safe_serialization=True)
        tokenizer.save_pretrained(dest)


METHODS: Registry[type[Method]] = Registry("method", package=__name__)


def get_method(name: str) -> Method:
    return METHODS.get(name)()


def freeze_all(model: Any) -> None:
    for p in model.parameters():
        p.requires_grad_(False)


def count_trainable(model: Any) -> int:
    """Trainable parameters, each shared (tied) tensor counted once."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


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
