"""KTO (Ethayarajh et al., 2024): learn from answers labelled desirable or undesirable, no pairs needed --
the shape of thumbs up/down feedback. As in TRL: loss 1 - sigmoid(beta * (ratio - z)) for a desirable
answer and 1 - sigmoid(beta * (z - ratio)) for an undesirable one, ratio = log pi - log ref of the answer,
z = the batch's mean (policy - reference) log-prob of mismatched prompt/answer pairs, clamped at 0 and
not differentiated. Each record's mismatched pair is its prompt with the previous record's answer, fixed
when the data is encoded, so the reference side of z is computed once with the rest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from ils.errors import TrainingError
from ils.preference import LABEL, is_pair, is_rated, rejected_example
from ils.records import Example
from ils.train.batching import collate
from ils.train.objectives import OBJECTIVES, Objective, Tensors
from ils.train.objectives.logps import (batch_logps, encode, encoded_records, reference_of, sequence_logps,
                                        stored_or_computed)


class Rated(NamedTuple):
    ids: list[int]
    one: list[int]
    labels: list[int]
    desirable: bool
    kl_ids: list[int]  # this prompt with another record's answer
    kl_labels: list[int]
    ref: tuple[float, float] = (0.0, 0.0)  # reference log-probs of the answer and of the mismatched pair


def rated_records(records: list[Example], what: str) -> list[Example]:
    """Labelled records as they are; a chosen/rejected pair as a desirable and an undesirable answer."""
    out: list[Example] = []
    for ex in records:
        if is_rated(ex):
            out.append(ex)
        elif is_pair(ex):
            out += [ex.model_copy(update={"meta": {**ex.meta, LABEL: True}}),
                    rejected_example(ex).model_copy(update={"meta": {**ex.meta, LABEL: False}})]
        else:
            raise TrainingError(f"{ex.source or what}: label: missing; objective kto trains on answers labelled "
                                "desirable or not (label: true/false) or on chosen/rejected pairs (docs/continual.md)")
    if len(out) < 2:
        raise TrainingError(f"objective kto: {len(out)} {what} answers; it needs at least 2 (its KL estimate pairs "
                            "each prompt with another record's answer)")
    return out


def encode_rated(records: list[Example], tok: Any, max_length: int, what: str) -> list[Rated]:
    records = rated_records(records, what)
    out = []
    for i, ex in enumerate(records):
        other = records[i - 1]  # the previous record's answer (the last one's for the first), as TRL pairs them
        mismatched = ex.model_copy(update={"messages": (*ex.messages[:-1], other.messages[-1])})
        ids, labels = encode(tok, ex, max_length)
        kl_ids, kl_labels = encode(tok, mismatched, max_length)
        out.append(Rated(ids, [1], labels, bool(ex.meta[LABEL]), kl_ids, kl_labels))
    return out


class KTOLoss(nn.Module):
    def __init__(self, model: nn.Module, beta: float, desirable_weight: float = 1.0, undesirable_weight: float = 1.0):
        super().__init__()
        self.model, self.beta = model, beta
        self.weights = (desirable_weight, undesirable_weight)

    @staticmethod
    def count(one: list[int]) -> int:
        return 1

    @staticmethod
    def collate(items: list[Rated], pad_id: int) -> dict:
        seqs = [(r.ids, r.labels) for r in items]
        kl = collate([(r.kl_ids, r.kl_labels) for r in items], pad_id)
        return {**collate(seqs, pad_id), "kl_input_ids": kl["input_ids"], "kl_attention_mask": kl["attention_mask"],
                "kl_labels": kl["labels"], "desirable": torch.tensor([r.desirable for r in items]),
                "ref": torch.tensor([r.ref for r in items], dtype=torch.float32)}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
                kl_input_ids: torch.Tensor, kl_attention_mask: torch.Tensor, kl_labels: torch.Tensor,
                desirable: torch.Tensor, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logps = sequence_logps(self.model, input_ids, attention_mask, labels)
        with torch.no_grad():
            kl_logps = sequence_logps(self.model, kl_input_ids, kl_attention_mask, kl_labels)
        z = (kl_logps - ref[:, 1]).mean().clamp(min=0)
        losses = kto_losses(logps - ref[:, 0], desirable, z, self.beta, *self.weights)
        return losses.sum(), torch.tensor(len(losses))


def kto_losses(ratios: torch.Tensor, desirable: torch.Tensor, z: torch.Tensor, beta: float,
               desirable_weight: float = 1.0, undesirable_weight: float = 1.0) -> torch.Tensor:
    good = desirable_weight * (1 - torch.sigmoid(beta * (ratios - z)))
    bad = undesirable_weight * (1 - torch.sigmoid(beta * (z - ratios)))
    return torch.where(desirable.bool(), good, bad)


class KTO(Objective):
    name = "kto"
    stored = "reference.safetensors"

    def load_data(self, cfg: Any, tok: Any) -> Any:
        return encoded_records(cfg, tok, encode_rated)

    def prepare(self, model: Any, tok: Any, data: Any, cfg: Any, run_root: Path | None) -> Tensors:
        def compute() -> Tensors:
            with reference_of(model, fresh_adapter=not cfg.continual.previous) as ref:
                return {f"{split}.{side}": batch_logps(ref, [(r[a], r[b]) for r in items], tok.pad_token_id)
                        for split, items in (("train", data.train), ("validation", data.validation)) if items
                        for side, a, b in (("answer", 0, 2), ("mismatched", 4, 5))}

        tensors = stored_or_computed(run_root, self.stored, compute)
        for split in ("train", "validation"):
            items = getattr(data, split)
            if items:
                refs = zip(tensors[f"{split}.answer"].tolist(), tensors[f"{split}.mismatched"].tolist())
                setattr(data, split, [r._replace(ref=x) for r, x in zip(items, refs)])
        return tensors

    def loss_module(self, model: nn.Module, cfg: Any) -> nn.Module:
        o = cfg.preference
        return KTOLoss(model, o.beta, o.desirable_weight, o.undesirable_weight)


OBJECTIVES.add(KTO())
