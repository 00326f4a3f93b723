"""Regularisation applied to the wrapped model: a dropout rate, and NEFTune embedding noise.

NEFTune (Jain et al., 2023) adds uniform noise of scale alpha / sqrt(L * d) to the input embeddings
while training only (L: sequence length, d: width); reported to make instruction tuning more robust.
Weight decay lives in the optimizer, early stopping (``patience``) in the loop and activation
checkpointing in ``ils.train.memory``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn


def regularise(model: Any, cfg: Any) -> Any:
    if cfg.dropout is not None:
        set_dropout(model, cfg.dropout)
    if cfg.neftune_alpha:
        add_neftune(model, cfg.neftune_alpha)
    return model


def set_dropout(model: nn.Module, rate: float) -> None:
    """Every nn.Dropout, and attention dropout kept as a config number (Llama's attention_dropout)."""
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = rate
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "attention_dropout"):
        config.attention_dropout = rate
        for m in model.modules():
            if hasattr(m, "attention_dropout") and isinstance(m.attention_dropout, float):
                m.attention_dropout = rate


def add_neftune(model: Any, alpha: float) -> Any:
    """Register the noise hook on the input embeddings; returns the hook handle."""
    emb = model.get_input_embeddings()

    def hook(module: nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor:
        if not module.training:
            return output
        scale = alpha / math.sqrt(output.shape[1] * output.shape[2])
        return output + torch.zeros_like(output).uniform_(-scale, scale)

    return emb.register_forward_hook(hook)
