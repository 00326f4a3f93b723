"""Linear layers with weights reordered once for oneDNN, used when the engine runs on one thread.

Decoding multiplies a few rows (one per running sequence) by every weight matrix at every step. On
one thread, oneDNN with weights reordered ahead of time (``mkldnn::_reorder_linear_weight``, the
path torch's own CPU inference compiler takes) ran this 1.18x faster than the plain product (16
streams of SmolLM2: 137 vs 116 tok/s here), about what vLLM's CPU build gets from its oneDNN
kernels. With two threads the same call was 2x slower than the plain one here, so it is used only on
one thread (``ils serve --cpus 0``, or any process pinned to a single core). It costs a second copy
of the linear weights (540 MB for SmolLM2 in float32).
"""

from __future__ import annotations

import types
from typing import Any

import torch
import torch.nn.functional as F

BATCH_HINT = 32  # the row count oneDNN's reorder is tuned for; any count works


def available() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def pack(model: Any) -> list[torch.nn.Linear]:
    """Reorder every frozen float32 linear of ``model`` for oneDNN; returns them (for ``unpack``)."""
    done = []
    for m in model.modules():
        if isinstance(m, torch.nn.Linear) and m.weight.dtype == torch.float32:
            m._ils_onednn = torch.ops.mkldnn._reorder_linear_weight(m.weight.detach(), BATCH_HINT)
            m.forward = types.MethodType(_forward, m)
            done.append(m)
    return done


def unpack(linears: list[torch.nn.Linear]) -> None:
    for m in linears:
        m.__dict__.pop("forward", None)
        m.__dict__.pop("_ils_onednn", None)


def _forward(self: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
    if x.dtype != torch.float32 or torch.get_num_threads() != 1 or torch.is_grad_enabled():
        return F.linear(x, self.weight, self.bias)
    flat = x.reshape(-1, x.shape[-1])
    y = torch.ops.mkldnn._linear_pointwise(flat, self._ils_onednn, self.bias, "none", [], "")
    return y.view(*x.shape[:-1], y.shape[-1])
