"""Continuing from a previous run: the same base model, and its trained weights loaded into the new run.

A PEFT run's adapter goes in through PEFT's own ``set_peft_model_state_dict`` (adapter names and the
head's ``modules_to_save`` mapped by PEFT); ILS's own adapters (bottleneck, BitFit) and a full run's
``model/`` are copied by parameter name. Any tensor the new model lacks is an error, not a silent skip.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ils.errors import ConfigError


def fingerprint_of(ref: str) -> str:
    """The base model's fingerprint as ``ils.json`` records it (a GGUF's cache key, else the weights' sha256)."""
    from ils.io import fingerprint
    from ils.models.sources import resolve

    folder = resolve(ref)
    src = folder / "ils-source.json"
    if src.is_file():
        return json.loads(src.read_text())["key"]
    weights = sorted(folder.glob("*.safetensors"))
    return fingerprint(weights[0]) if weights else ""


def same_base(cfg: Any, info: dict) -> None:
    if fingerprint_of(cfg.model) != info.get("base_fingerprint"):
        raise ConfigError(f"model: {cfg.model} is not the base model continual.previous was trained from "
                          f"({info.get('base_model')}); set --model to it")


def tokenizer_of(ref: str) -> Any:
    """The tokenizer of a model name or folder, or of a run folder (its adapter/ or model/)."""
    from ils.models.loading import load_tokenizer
    from ils.models.sources import resolve

    root = Path(ref)
    if (root / "ils.json").is_file():
        for part in ("adapter", "model"):
            if (root / part / "tokenizer_config.json").is_file():
                return load_tokenizer(root / part)
        return tokenizer_of(json.loads((root / "ils.json").read_text())["base_model"])
    return load_tokenizer(resolve(ref))


def load_previous(model: Any, run: Path) -> None:
    """Put the previous run's trained weights into ``model`` (already wrapped by the same method)."""
    from safetensors.torch import load_file

    adapter = run / "adapter"
    if (adapter / "adapter_config.json").is_file():
        from peft import set_peft_model_state_dict

        result = set_peft_model_state_dict(model, load_file(adapter / "adapter_model.safetensors"))
        unexpected = list(getattr(result, "unexpected_keys", []) or [])
        if unexpected:
            raise ConfigError(f"continual.previous: {run}: adapter tensors the new model lacks: {unexpected[:3]}")
        return
    files = sorted(adapter.glob("*.safetensors")) if adapter.is_dir() else sorted((run / "model").glob("*.safetensors"))
    state: dict[str, torch.Tensor] = {}
    for f in files:
        state.update(load_file(f))
    _copy(model, state, run)


def _copy(model: Any, state: dict, run: Path) -> None:
    params = dict(model.named_parameters())
    missing = [k for k in state if k not in params]
    if missing:
        raise ConfigError(f"continual.previous: {run}: tensors the new model lacks: {missing[:3]}")
    with torch.no_grad():
        for k, v in state.items():
            params[k].copy_(v)
