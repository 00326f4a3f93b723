"""How a sequence-classification head sums up a text: the first token ("cls") or the mean of all tokens.

transformers' BERT-family heads read the [CLS] state through a pooler (dense + tanh) that was tuned for
next-sentence prediction. Sentence-embedding encoders such as all-MiniLM-L6-v2 were trained with a
*mean* of their token states instead, so their [CLS] pooler is untrained. sentence-transformers has a
mean ``Pooling`` module, but not as a trainable transformers classification head that PEFT methods
wrap and ``save_pretrained`` writes, so ILS adds it here. The head model stays the stock transformers
class (same weights file, every tuning method still applies); only its base model's pooled output is
replaced, by a forward hook that sees the attention mask.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ils.errors import ConfigError

POOLINGS = ("cls", "mean")


def use_pooling(model: Any, pooling: str) -> Any:
    """Make ``model`` (a transformers ...ForSequenceClassification) classify from ``pooling``."""
    if pooling == "cls":
        return model
    if pooling not in POOLINGS:
        raise ConfigError(f"head.pooling: {pooling!r} is not one of {list(POOLINGS)}")
    encoder = getattr(model, getattr(model, "base_model_prefix", ""), None)
    if encoder is None or getattr(encoder, "pooler", None) is None:
        raise ConfigError(f"head.pooling: {type(model).__name__} has no pooler to replace "
                          "(mean pooling needs a BERT-style encoder)")
    encoder.pooler = nn.Identity()  # its dense layer would go unused; the hook sets the pooled output
    encoder.register_forward_hook(_mean_of_tokens, with_kwargs=True)
    return model


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of each row's token states over its real (unpadded) tokens, computed in float32."""
    if mask is None:
        return hidden.float().mean(1).to(hidden.dtype)
    weights = mask.unsqueeze(-1).float()
    return ((hidden.float() * weights).sum(1) / weights.sum(1).clamp(min=1.0)).to(hidden.dtype)


def _mean_of_tokens(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> Any:
    mask = kwargs.get("attention_mask", args[1] if len(args) > 1 else None)
    if isinstance(output, tuple):
        return (output[0], masked_mean(output[0], mask), *output[2:])
    output.pooler_output = masked_mean(output.last_hidden_state, mask)
    return output
