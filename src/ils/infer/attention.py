"""Attention over the engine's row cache, plugged into transformers' attention interface.

The engine runs every scheduled token of a step (one token per decoding sequence, a chunk of each
sequence still being prefilled) as one flat batch of length-1 rows, so projections and MLPs are one
matmul each. Only attention needs to know which sequence a token belongs to: this function writes
each token's key and value into its sequence's cache row, then attends decoding tokens together
(one batched matmul over a strided view of the first rows) and each prefill chunk on its own (causal,
offset by what the row already holds). Registered as ``ils`` in ``AttentionInterface``; models
whose attention goes through that interface (Llama, Mistral, Qwen2, Gemma, ...) run unchanged.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

NAME = "ils"


@dataclass
class StepLayout:
    """Where this step's tokens go; built once per step, read by every layer."""

    cache: Any  # RowCache
    rows: torch.Tensor  # [T] cache row of each token
    positions: torch.Tensor  # [T] position of each token in its row
    n_decode: int  # the first n_decode tokens are decoding tokens, one per row
    decode_rows: torch.Tensor | None  # [n_decode] their rows (None: rows 0..n_decode-1)
    decode_width: int = 0  # attend to positions [0, decode_width) of decoding rows
    decode_bias: torch.Tensor | None = None  # [n_decode, 1, 1, decode_width]: 0 or -inf beyond each length
    prefills: list[tuple[int, int, int, int]] = field(default_factory=list)  # (first token, count, row, start)


CURRENT: contextvars.ContextVar[StepLayout] = contextvars.ContextVar("ils_step")


def row_attention(module: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                  attention_mask: Any, scaling: float | None = None, dropout: float = 0.0,
                  **kwargs: Any) -> tuple[torch.Tensor, None]:
    """query [T, H, 1, D], key/value [T, KVH, 1, D] → output [T, 1, H, D] (the interface's layout).

    Outside an engine step (the same model trained, or scored by other code) it is plain SDPA."""
    step = CURRENT.get(None)
    if step is None:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling,
                                      dropout=dropout, **kwargs)
    kc, vc = step.cache.layer(module.layer_idx)
    kc[step.rows, :, step.positions] = key[:, :, 0].to(kc.dtype)
    vc[step.rows, :, step.positions] = value[:, :, 0].to(vc.dtype)
    q = query[:, :, 0]
    out = torch.empty_like(q)
    scale = scaling if scaling is not None else q.shape[-1] ** -0.5
    if step.n_decode:
        out[: step.n_decode] = _decode(step, q[: step.n_decode], kc, vc, scale)
    for first, count, row, start in step.prefills:
        out[first:first + count] = _prefill(q[first:first + count], kc, vc, row, start, scale)
    return out.unsqueeze(1), None


def _decode(step: StepLayout, q: torch.Tensor, kc: torch.Tensor, vc: torch.Tensor, scale: float) -> torch.Tensor:
    """One query per row against its row's cache, all rows in one grouped matmul (GQA without copies)."""
    n, width = q.shape[0], step.decode_width
    if step.decode_rows is None:
        k, v = kc[:n, :, :width], vc[:n, :, :width]
    else:
        k, v = kc[step.decode_rows, :, :width], vc[step.decode_rows, :, :width]
    kv_heads, dim = k.shape[1], q.shape[-1]
    qg = q.view(n, kv_heads, -1, dim).to(k.dtype)
    scores = torch.matmul(qg, k.transpose(-1, -2)).mul_(scale).add_(step.decode_bias)
    probs = torch.softmax(scores.float(), dim=-1).to(v.dtype)
    return torch.matmul(probs, v).reshape(n, -1, dim).to(q.dtype)


def _prefill(q: torch.Tensor, kc: torch.Tensor, vc: torch.Tensor, row: int, start: int,
             scale: float) -> torch.Tensor:
    """A chunk of ``count`` new tokens of one row, causal, after the ``start`` positions it holds."""
    count = q.shape[0]
    k, v = kc[row:row + 1, :, :start + count], vc[row:row + 1, :, :start + count]
    qs = q.transpose(0, 1).unsqueeze(0).to(k.dtype)
    if start == 0:
        o = F.scaled_dot_product_attention(qs, k, v, is_causal=True, scale=scale, enable_gqa=True)
    else:
        allowed = torch.ones(count, start + count, dtype=torch.bool).tril(start)
        o = F.scaled_dot_product_attention(qs, k, v, attn_mask=allowed, scale=scale, enable_gqa=True)
    return o[0].transpose(0, 1).to(q.dtype)


def decode_bias(lengths: torch.Tensor, width: int, dtype: torch.dtype) -> torch.Tensor:
    """0 where a row's position holds a token (position < its length), -inf after."""
    filled = torch.arange(width)[None, :] < lengths[:, None]
    bias = torch.zeros(filled.shape, dtype=dtype).masked_fill_(~filled, float("-inf"))
    return bias[:, None, None, :]


def register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, row_attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)  # masks as for SDPA when used outside a step
