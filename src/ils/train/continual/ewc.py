"""EWC (Kirkpatrick et al., 2017): a penalty (lambda / 2) * sum F_i (w_i - w*_i)^2 that holds each trained
weight near its value at the start (w*: the previous model), weighted by F, the diagonal of the Fisher
information of the previous task's data there: how much that task's likelihood depends on the weight.

F is the mean over ``ewc_samples`` records of the squared gradient of each record's mean token loss
(one backward per record: the per-example gradient that the Fisher is defined with, not a batch mean).
When the previous run was itself trained with EWC its Fisher is added (online EWC, Schwarz et al.,
2018), so a chain of tasks keeps every earlier one. F and w* are stored in ``continual/ewc.safetensors``.
Hand-written: the Avalanche and other continual-learning libraries ship EWC only inside their own
training strategies, not as a penalty for another loop.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

FILE = "continual/ewc.safetensors"


def trained(model: Any) -> dict[str, torch.Tensor]:
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def fisher(model: Any, loss_module: Any, items: list, pad_id: int) -> dict[str, torch.Tensor]:
    """Mean squared per-record gradient of the mean token loss, for each trained parameter."""
    params = trained(model)
    total = {n: torch.zeros_like(p, dtype=torch.float32) for n, p in params.items()}
    was = model.training
    model.eval()  # no dropout: the Fisher of the model as it predicts
    try:
        for item in items:
            loss, count = loss_module(**loss_module.collate([item], pad_id))
            grads = torch.autograd.grad(loss / count.clamp(min=1), list(params.values()), allow_unused=True)
            for name, g in zip(params, grads):
                if g is not None:
                    total[name] += g.detach().float() ** 2
    finally:
        model.train(was)
    return {n: f / max(len(items), 1) for n, f in total.items()}


def sample(items: list, n: int, seed: int) -> list:
    return random.Random(seed).sample(items, min(n, len(items)))


def compute(model: Any, make_loss: Callable[[Any], Any], items: list, pad_id: int, cfg: Any) -> dict:
    """The tensors to store: ``fisher.<name>`` and ``anchor.<name>`` (the start weights)."""
    from safetensors.torch import load_file

    f = fisher(model, make_loss(model), sample(items, cfg.continual.ewc_samples, cfg.seed), pad_id)
    earlier = Path(cfg.continual.previous or "") / FILE
    if cfg.continual.previous and earlier.is_file():  # online EWC: the earlier tasks' Fisher too
        for key, value in load_file(earlier).items():
            name = key.removeprefix("fisher.")
            if key.startswith("fisher.") and name in f and value.shape == f[name].shape:
                f[name] = f[name] + value
    anchors = {f"anchor.{n}": p.detach().float().clone() for n, p in trained(model).items()}
    return {**{f"fisher.{n}": v.contiguous() for n, v in f.items()}, **anchors}


class EWCPenalty:
    def __init__(self, model: Any, tensors: dict[str, torch.Tensor], weight: float):
        self.weight = weight
        params = trained(model)
        self.terms = [(params[n], tensors[f"fisher.{n}"], tensors[f"anchor.{n}"]) for n in params
                      if f"fisher.{n}" in tensors]
        self.last = 0.0

    def __call__(self) -> torch.Tensor:
        total = sum(((f.to(p.device) * (p.float() - a.to(p.device)) ** 2).sum() for p, f, a in self.terms),
                    torch.zeros(()))
        value = self.weight / 2 * total
        self.last = float(value.detach())
        return value
