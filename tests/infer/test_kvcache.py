"""The row cache keeps what is in use when it grows, even when more rows leave less width per row."""

from __future__ import annotations

import torch

from ils.infer.kvcache import RowCache, Shape


def test_growing_rows_within_the_budget_keeps_the_rows_in_use():
    cache = RowCache(Shape(layers=1, kv_heads=1, head_dim=2, dtype=torch.float32), budget=8 * 64)
    cache.ensure(2, 200, max_rows=8)  # two wide rows
    assert cache.width >= 200
    cache.kv[:, :, 0, :, :100] = 1.0
    cache.kv[:, :, 1, :, :100] = 2.0
    cache.ensure(6, 64, max_rows=8)  # the wide request left: six rows of 64 need a narrower cache
    assert cache.rows >= 6 and cache.rows * cache.width <= 8 * 64
    assert torch.all(cache.kv[:, :, 0, :, :64] == 1.0) and torch.all(cache.kv[:, :, 1, :, :64] == 2.0)
    assert torch.all(cache.kv[:, :, 2:] == 0.0)
