"""DPO (Rafailov et al., 2023): raise the chosen answer's log-probability ratio to the reference above
the rejected one's; loss per pair -log sigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r))), TRL's
``sigmoid`` loss. Chosen and rejected rows go through the model as one batch.

With ``sft_weight`` w > 0 the loss adds w times the batch's mean negative log-prob per chosen-answer
token (RPO; TRL's ``loss_type=["sigmoid", "sft"], loss_weights=[1, w]``). Plain DPO only widens the
gap between the two answers, and can widen it by making both unlikely: on feedback where every rejected
answer is long, it learned to answer nothing at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ils.errors import TrainingError
from ils.models.chat import IGNORE
from ils.preference import is_pair, rejected_example
from ils.records import Example
from ils.train.batching import collate
from ils.train.objectives import OBJECTIVES, Objective, Tensors
from ils.train.objectives.logps import (batch_logps, encode, encoded_records, reference_of, sequence_logps,
                                        stored_or_computed)


class Pair(NamedTuple):
    ids: list[int]  # prompt + chosen (its length groups batches)
    one: list[int]  # [1]: a pair counts once in the loss average
    labels: list[int]
    rejected_ids: list[int]
    rejected_labels: list[int]
    ref: tuple[float, float] = (0.0, 0.0)  # reference log-probs of chosen and rejected


def encode_pairs(records: list[Example], tok: Any, max_length: int, what: str) -> list[Pair]:
    missing = [ex for ex in records if not is_pair(ex)]
    if missing:
        raise TrainingError(f"{missing[0].source or what}: rejected: missing; objective dpo trains on "
                            f"chosen/rejected pairs ({len(missing)} of {len(records)} {what} records have none; "
                            "layouts: docs/continual.md)")
    out = []
    for ex in records:
        c, r = encode(tok, ex, max_length), encode(tok, rejected_example(ex), max_length)
        out.append(Pair(c[0], [1], c[1], r[0], r[1]))
    return out


class DPOLoss(nn.Module):
    def __init__(self, model: nn.Module, beta: float, sft_weight: float = 0.0):
        super().__init__()
        self.model, self.beta, self.sft_weight = model, beta, sft_weight

    @staticmethod
    def count(one: list[int]) -> int:
        return 1

    @staticmethod
    def collate(items: list[Pair], pad_id: int) -> dict:
        seqs = [(p.ids, p.labels) for p in items] + [(p.rejected_ids, p.rejected_labels) for p in items]
        return {**collate(seqs, pad_id), "ref": torch.tensor([p.ref for p in items], dtype=torch.float32)}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
                ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        chosen, rejected = sequence_logps(self.model, input_ids, attention_mask, labels).chunk(2)
        losses = dpo_losses(chosen, rejected, ref[:, 0], ref[:, 1], self.beta)
        if self.sft_weight:
            # per pair, the batch's token mean (as TRL), so the sum over pairs / pairs adds w * that mean
            tokens = (labels[: len(chosen), 1:] != IGNORE).sum().clamp(min=1)
            losses = losses - self.sft_weight * chosen.sum() / tokens
        return losses.sum(), torch.tensor(len(losses))


def dpo_losses(chosen: torch.Tensor, rejected: torch.Tensor, ref_chosen: torch.Tensor,
               ref_rejected: torch.Tensor, beta: float) -> torch.Tensor:
    return -F.logsigmoid(beta * ((chosen - ref_chosen) - (rejected - ref_rejected)))


class DPO(Objective):
    name = "dpo"
    stored = "reference.safetensors"

    def load_data(self, cfg: Any, tok: Any) -> Any:
        return encoded_records(cfg, tok, encode_pairs)

    def prepare(self, model: Any, tok: Any, data: Any, cfg: Any, run_root: Path | None) -> Tensors:
        def compute() -> Tensors:
            with reference_of(model, fresh_adapter=not cfg.continual.previous) as ref:
                return {f"{split}.{side}": batch_logps(ref, [(p[a], p[b]) for p in items], pad)
                        for split, items in (("train", data.train), ("validation", data.validation)) if items
                        for side, a, b in (("chosen", 0, 2), ("rejected", 3, 4))}

        pad = tok.pad_token_id
        tensors = stored_or_computed(run_root, self.stored, compute)
        for split in ("train", "validation"):
            items = getattr(data, split)
            if items:
                pairs = zip(tensors[f"{split}.chosen"].tolist(), tensors[f"{split}.rejected"].tolist())
                setattr(data, split, [p._replace(ref=r) for p, r in zip(items, pairs)])
        return tensors

    def loss_module(self, model: nn.Module, cfg: Any) -> nn.Module:
        return DPOLoss(model, cfg.preference.beta, cfg.preference.sft_weight)


OBJECTIVES.add(DPO())
