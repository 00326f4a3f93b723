"""Sequence log-probabilities of answers, and the reference ones computed once before training.

DPO and KTO compare the policy's log-probability of an answer with the reference model's. The
reference is the model as training starts (with a fresh PEFT adapter, the base with the adapter
disabled, as TRL does); its log-probs are computed once, in one pass over the data before the first
step, stored in the run folder and read back on resume -- no second model is held during training.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from ils.errors import TrainingError
from ils.models.chat import IGNORE, encode_example
from ils.records import Example
from ils.train.batching import collate


def sequence_logps(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                   labels: torch.Tensor) -> torch.Tensor:
    """Sum of log p(token) over each row's labelled tokens; logits only where a label is trained."""
    from ils.train.objective import ResponseLoss

    target = labels[:, 1:]
    keep = target != IGNORE
    logits = ResponseLoss(model)._logits(input_ids, attention_mask, keep)
    logp = torch.log_softmax(logits.float(), -1).gather(-1, target[keep].unsqueeze(-1)).squeeze(-1)
    rows = keep.nonzero()[:, 0]
    return torch.zeros(input_ids.shape[0], dtype=logp.dtype, device=logp.device).index_add(0, rows, logp)


def encode(tok: Any, ex: Example, max_length: int) -> tuple[list[int], list[int]]:
    ids, labels = encode_example(tok, ex, max_length)
    if all(y == IGNORE for y in labels):
        raise TrainingError(f"{ex.source or ex.id}: max_length {max_length} leaves no answer token")
    return ids, labels


@contextlib.contextmanager
def reference_of(model: Any, fresh_adapter: bool) -> Iterator[Any]:
    """The starting model in eval mode: a fresh PEFT adapter disabled (the base is the reference)."""
    was = model.training
    model.eval()
    disable = getattr(model, "disable_adapter", None) if fresh_adapter else None
    try:
        with torch.no_grad(), (disable() if disable else contextlib.nullcontext()):
            yield model
    finally:
        model.train(was)


@torch.no_grad()
def batch_logps(model: Any, seqs: list[tuple[list[int], list[int]]], pad_id: int, size: int = 8) -> torch.Tensor:
    """Log-probs of many (ids, labels) sequences, in order, in batches of ``size``."""
    out = [sequence_logps(model, **collate(seqs[i:i + size], pad_id)) for i in range(0, len(seqs), size)]
    return torch.cat(out) if out else torch.zeros(0)


def stored_or_computed(run_root: Path | None, name: str, compute: Any) -> dict[str, torch.Tensor]:
    """The tensors a resumed run stored in ``name``, else ``compute()`` (the first start)."""
    from safetensors.torch import load_file

    path = run_root / name if run_root is not None else None
    if path is not None and path.is_file():
        return load_file(path)
    return compute()


def encoded_records(cfg: Any, tok: Any, encoder: Any) -> Any:
    """The run's train and validation records encoded by ``encoder`` (pairs for DPO, rated answers
    for KTO) as the loop's TrainData."""
    from ils.train.data import TrainData, data_fingerprint, read_records

    train, val = read_records(cfg)
    return TrainData(encoder(train, tok, cfg.max_length, "training"),
                     encoder(val, tok, cfg.max_length, "validation") if val else [],
                     data_fingerprint(cfg), sorted({ex.task for ex in train if ex.task}))
