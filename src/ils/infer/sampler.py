"""Next tokens for a batch whose rows each have their own sampling settings.

Greedy rows take one argmax together; sampled rows apply their temperature and nucleus (top-p) cut
and draw with their own seeded generator, so a request's sampled answer does not depend on which
other requests shared its batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ils.infer.protocol import Sampling


def next_tokens(logits: torch.Tensor, settings: Sequence[Sampling],
                generators: Sequence[torch.Generator | None]) -> list[int]:
    """``logits`` [n, vocab] (float32) → one token id per row."""
    chosen = logits.argmax(dim=-1).tolist()
    for i, s in enumerate(settings):
        if s.temperature > 0:
            chosen[i] = _draw(logits[i], s, generators[i])
    return chosen


def _draw(logits: torch.Tensor, s: Sampling, gen: torch.Generator | None) -> int:
    probs = torch.softmax(logits / s.temperature, dim=-1)
    if s.top_p < 1.0:
        probs = _nucleus(probs, s.top_p)
    return int(torch.multinomial(probs, 1, generator=gen))


def _nucleus(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the smallest set of most likely tokens whose mass reaches ``top_p`` (the top one always)."""
    sorted_p, order = probs.sort(descending=True)
    outside = sorted_p.cumsum(0) - sorted_p > top_p
    sorted_p[outside] = 0.0
    kept = torch.zeros_like(probs).scatter_(0, order, sorted_p)
    return kept / kept.sum()


def generator(s: Sampling) -> torch.Generator | None:
    if s.temperature <= 0:
        return None
    return torch.Generator().manual_seed(s.seed % (1 << 63))
