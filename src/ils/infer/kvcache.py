"""The KV cache of the running batch: one dense row per sequence, bounded by a token budget.

Why rows and not pages: on a CPU, attention for a batch of decoding sequences is fastest as one
batched matmul over a strided view ``cache[:n, :, :width]``; a paged cache would first copy every
sequence's pages into such a tensor at every layer and step, which costs more than the attention
itself here (measured: a gather of 32 x 160 tokens took as long as the attention on them). vLLM and
llama.cpp avoid that copy with kernels of their own; torch has no paged attention for the CPU.
So each running sequence owns one row; rows are kept compact (decoding rows first, then rows still
being prefilled) by moving a row when another finishes; the width grows by doubling. What a row may
cost is reserved when its request is admitted (prompt + max new tokens, padded to the widest row),
so the cache never grows past ``budget`` tokens: requests that do not fit wait in the queue.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

WIDTH_STEP = 64  # widths are multiples of this, so growing copies the cache rarely


@dataclass(frozen=True)
class Shape:
    layers: int
    kv_heads: int
    head_dim: int
    dtype: torch.dtype

    def bytes_per_token(self) -> int:
        return 2 * self.layers * self.kv_heads * self.head_dim * torch.tensor([], dtype=self.dtype).element_size()


def round_up(n: int, step: int = WIDTH_STEP) -> int:
    return max(step, -(-n // step) * step)


class RowCache:
    """``kv[layer, k|v, row, head, position, dim]``; rows and width grow on demand up to the budget."""

    def __init__(self, shape: Shape, budget: int):
        self.shape, self.budget = shape, budget
        self.kv = self._alloc(0, 0)
        self.peak = 0  # most bytes the cache ever held

    def _alloc(self, rows: int, width: int) -> torch.Tensor:
        s = self.shape
        return torch.zeros(s.layers, 2, rows, s.kv_heads, width, s.head_dim, dtype=s.dtype)

    @property
    def rows(self) -> int:
        return self.kv.shape[2]

    @property
    def width(self) -> int:
        return self.kv.shape[4]

    def fits(self, rows: int, width: int) -> bool:
        return rows * round_up(width) <= self.budget

    def ensure(self, rows: int, width: int, max_rows: int) -> None:
        """Room for ``rows`` rows of ``width`` positions, data kept. Rows grow by doubling (up to
        ``max_rows``) and width by half again, within the budget, so a burst of arrivals copies the
        cache a few times, not once per request."""
        if rows <= self.rows and width <= self.width:
            return
        need = round_up(width)
        new_width = self.width if need <= self.width else max(need, round_up(self.width * 3 // 2))
        new_width = min(new_width, max(need, self.budget // rows // WIDTH_STEP * WIDTH_STEP))
        new_rows = max(rows, min(2 * self.rows, max_rows, self.budget // new_width))
        grown = self._alloc(new_rows, new_width)
        # more rows may leave less width per row within the budget: only the rows and positions in use
        # (``rows``, ``width``) must survive, and they always fit
        keep_rows, keep_width = min(self.rows, new_rows), min(self.width, new_width)
        grown[:, :, :keep_rows, :, :keep_width] = self.kv[:, :, :keep_rows, :, :keep_width]
        self.kv = grown
        self.peak = max(self.peak, self.nbytes())

    def release(self) -> None:
        """Give the memory back (the engine is idle)."""
        self.kv = self._alloc(0, 0)

    def layer(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.kv[index, 0], self.kv[index, 1]

    def move(self, src: int, dst: int, length: int) -> None:
        """Row ``src``'s first ``length`` positions into row ``dst`` (every layer at once)."""
        if length:
            self.kv[:, :, dst, :, :length] = self.kv[:, :, src, :, :length]

    def swap(self, a: int, b: int, len_a: int, len_b: int) -> None:
        keep = self.kv[:, :, a, :, :len_a].clone()
        self.move(b, a, len_b)
        if len_a:
            self.kv[:, :, b, :, :len_a] = keep

    def read(self, row: int, start: int, stop: int) -> torch.Tensor:
        """A copy of positions [start, stop) of a row: ``[layer, k|v, head, position, dim]``."""
        return self.kv[:, :, row, :, start:stop].clone()

    def write(self, row: int, start: int, block: torch.Tensor) -> None:
        self.kv[:, :, row, :, start:start + block.shape[3]] = block

    def nbytes(self) -> int:
        return self.kv.numel() * self.kv.element_size()
