"""Bottleneck adapters (Houlsby et al., 2019; Pfeiffer et al., 2020), which PEFT does not provide.

An adapter is down-project → nonlinearity → up-project, added residually to a sub-layer's output;
the up-projection starts at zero, so a fresh adapter leaves the model unchanged. Houlsby style puts
one after attention and one after the MLP of every block, Pfeiffer style only after the MLP. Each is
attached as a child of the output projection it follows (``o_proj.adapter``) and applied by a
forward hook, so the base weights keep their names and a base checkpoint still loads.
"""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import nn

# Output projections of the attention and MLP sub-layers, per model family.
SITES = {
    "attention": r"(self_attn\.o_proj|attn\.c_proj|attention\.output\.dense|attention\.out_lin)$",
    "mlp": r"(mlp\.down_proj|mlp\.c_proj|layer\.\d+\.output\.dense|ffn\.lin2)$",
}
STYLES = {"houlsby": ("attention", "mlp"), "pfeiffer": ("mlp",)}


class Bottleneck(nn.Module):
    def __init__(self, hidden: int, size: int):
        super().__init__()
        self.down = nn.Linear(hidden, size)
        self.up = nn.Linear(size, hidden)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.up(nn.functional.gelu(self.down(x)))


def _hook(module: nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor:
    return module.adapter(output)


def sites(model: nn.Module, style: str) -> list[nn.Linear]:
    patterns = [re.compile(SITES[s]) for s in STYLES[style]]
    return [m for n, m in model.named_modules()
            if isinstance(m, nn.Linear) and any(p.search(n) for p in patterns)]


def add_adapters(model: nn.Module, size: int, style: str = "houlsby") -> list[Bottleneck]:
    """Attach an adapter after every matching sub-layer; returns them (empty: unknown architecture)."""
    added = []
    for linear in sites(model, style):
        linear.add_module("adapter", Bottleneck(linear.out_features, size).to(linear.weight.dtype))
        linear.register_forward_hook(_hook)
        added.append(linear.adapter)
    return added
