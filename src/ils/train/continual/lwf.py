"""LwF (Li & Hoiem, 2016): learn the new data while keeping the next-token distributions of the previous
model on it -- a KL term beside the loss, weighted by ``lwf`` and scaled by T^2 (Hinton et al.).

Stored, not computed on the fly: the teacher's outputs are computed once, in one forward pass over the new
data before training, and kept as its top-k log-probs per trained token (``continual/lwf.safetensors``).
On the fly would hold a second model in memory and cost one more forward per step for every epoch; the
full distributions would take 49k floats per token (about 4 GB per 20k answer tokens with SmolLM2), top-32
with ids takes 256 bytes. The KL is exact for the distribution coarsened to the k tokens plus one
'everything else' class, which holds what the teacher left out of the top k.
"""

from __future__ import annotations

from typing import Any

import torch

from ils.train.batching import collate

FILE = "continual/lwf.safetensors"


@torch.no_grad()
def teacher_topk(model: Any, items: list, pad_id: int, temperature: float, k: int, size: int = 8) -> dict:
    """Top-k log-probs (at ``temperature``) at every trained position of every item, items in order."""
    from ils.train.objective import ResponseLoss

    was = model.training
    model.eval()
    ids, logps, counts = [], [], []
    try:
        for i in range(0, len(items), size):
            batch = collate([it[:2] for it in items[i:i + size]], pad_id)
            keep = batch["labels"][:, 1:] != -100
            logits = ResponseLoss(model)._logits(batch["input_ids"], batch["attention_mask"], keep)
            top = torch.log_softmax(logits.float() / temperature, -1).topk(min(k, logits.shape[-1]), -1)
            ids.append(top.indices.to(torch.int32))
            logps.append(top.values)
            counts += keep.sum(1).tolist()
    finally:
        model.train(was)
    offsets = torch.tensor([0, *counts]).cumsum(0)
    return {"ids": torch.cat(ids), "logp": torch.cat(logps), "offsets": offsets}


class LwFTerm:
    """The KL sum of a micro-batch's trained tokens, from the student logits the objective kept."""

    def __init__(self, tensors: dict, weight: float, temperature: float):
        self.ids, self.logp, self.offsets = tensors["ids"].long(), tensors["logp"], tensors["offsets"].tolist()
        self.weight, self.t = weight, temperature
        self.last = 0.0

    def rows(self, indices: list[int]) -> torch.Tensor:
        return torch.cat([torch.arange(self.offsets[i], self.offsets[i + 1]) for i in indices])

    def __call__(self, student_logits: torch.Tensor, indices: list[int]) -> torch.Tensor:
        rows = self.rows(indices)
        kl = topk_kl(student_logits.float() / self.t, self.ids[rows].to(student_logits.device),
                     self.logp[rows].to(student_logits.device))
        value = self.weight * self.t ** 2 * kl.sum()
        self.last = float(value.detach())
        return value


def topk_kl(student: torch.Tensor, ids: torch.Tensor, teacher_logp: torch.Tensor) -> torch.Tensor:
    """KL(teacher || student) per row over the teacher's k tokens plus the rest as one class."""
    q = torch.log_softmax(student, -1).gather(-1, ids)
    p = teacher_logp.exp()
    p_rest = (1 - p.sum(-1)).clamp(min=1e-8)
    q_rest = (1 - q.exp().sum(-1)).clamp(min=1e-8)
    return (p * (teacher_logp - q)).sum(-1) + p_rest * (p_rest.log() - q_rest.log())
