"""Helpers shared by the methods: which layers a method targets, the task head, PEFT task types."""

from __future__ import annotations

import re
from typing import Any

from torch import nn

HEAD_NAMES = ("classifier", "score", "qa_outputs")


def peft_task(cfg: Any) -> Any:
    """PEFT's task type: a causal LM's, or the one the head declares (PEFT then also trains and saves
    the head)."""
    from peft import TaskType

    if cfg.head.kind is None:
        return TaskType.CAUSAL_LM
    from ils.models.heads import get_head

    return getattr(TaskType, get_head(cfg.head.kind).peft_task)


def head_modules(model: Any) -> list[tuple[str, nn.Module]]:
    """An encoder's task head (classifier / qa_outputs); a causal LM has none (its lm_head is the LM)."""
    return [(n, m) for n, m in model.named_children() if n in HEAD_NAMES]


def head_params(model: Any) -> int:
    return sum(p.numel() for _, m in head_modules(model) for p in m.parameters())


def linear_layers(model: Any, targets: str | list[str]) -> list[tuple[str, nn.Linear]]:
    """The nn.Linear layers a PEFT ``target_modules`` value selects (``all-linear``: all but the output)."""
    skip = {id(m) for _, m in head_modules(model)}
    out_emb = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    found = []
    for name, m in model.named_modules():
        if not isinstance(m, nn.Linear) or m is out_emb or id(m) in skip:
            continue
        if name.split(".")[0] in HEAD_NAMES:
            continue
        if targets == "all-linear" or _matches(name, targets):
            found.append((name, m))
    return found


def _matches(name: str, targets: str | list[str]) -> bool:
    if isinstance(targets, str):
        return re.fullmatch(targets, name) is not None
    return any(name == t or name.endswith("." + t) for t in targets)


def blocks(model: Any) -> nn.ModuleList:
    """The stack of transformer blocks (the longest ModuleList named layers/layer/h)."""
    lists = [m for n, m in model.named_modules()
             if isinstance(m, nn.ModuleList) and n.rsplit(".", 1)[-1] in ("layers", "layer", "h")]
    if not lists:
        raise ValueError(f"no transformer block list found in {type(model).__name__}")
    return max(lists, key=len)
