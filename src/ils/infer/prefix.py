"""Prefix cache: computed keys and values of prompt blocks, reused by later prompts that start alike.

A block is ``block`` tokens; its key hashes the adapter, every token before it and its own tokens,
so a hit means the whole prefix up to that block is identical. Blocks are copied into a request's
cache row on admission (a copy of a 30-token system prompt costs microseconds, computing it costs
tens of milliseconds here) and evicted least-recently-used past ``capacity`` tokens. The hit rate
counts prompt tokens served from the cache among all prompt tokens looked up.

A block left by a request that scored its tokens (``echo`` with ``logprobs``, as lm-evaluation-harness
asks any OpenAI server) also keeps those log-probs, so the next request that scores the same prefix
reads them instead of computing the whole prompt again: the keys and values alone would not do,
since a token's log-prob needs the logits at the position before it.
"""

from __future__ import annotations

import hashlib
from array import array
from collections import OrderedDict
from collections.abc import Sequence

import torch

BLOCK = 16


def block_keys(tokens: Sequence[int], adapter: str | None, limit: int, block: int = BLOCK) -> list[bytes]:
    """Keys of the full blocks among ``tokens[:limit]``, each chained to everything before it."""
    keys, prev = [], hashlib.blake2b((adapter or "").encode(), digest_size=16).digest()
    for start in range(0, limit - block + 1, block):
        prev = hashlib.blake2b(prev + array("q", tokens[start:start + block]).tobytes(), digest_size=16).digest()
        keys.append(prev)
    return keys


class PrefixStore:
    def __init__(self, capacity_tokens: int, block: int = BLOCK):
        self.block, self.capacity = block, max(0, capacity_tokens // block)
        self.blocks: OrderedDict[bytes, torch.Tensor] = OrderedDict()
        self.scores: dict[bytes, list[float]] = {}  # log-prob of each token of a block (NaN: not scored)
        self.lookup_tokens = self.hit_tokens = 0

    def match(self, keys: Sequence[bytes], prompt_tokens: int) -> int:
        """How many leading blocks are stored (refreshing them); counted for the hit rate."""
        n = 0
        while n < len(keys) and keys[n] in self.blocks:
            self.blocks.move_to_end(keys[n])
            n += 1
        self.lookup_tokens += prompt_tokens
        self.hit_tokens += n * self.block
        return n

    def fetch(self, keys: Sequence[bytes]) -> torch.Tensor:
        """The stored blocks joined along positions: ``[layer, k|v, head, position, dim]``."""
        return torch.cat([self.blocks[k] for k in keys], dim=3)

    def scored(self, key: bytes, skip: int = 0) -> list[float] | None:
        """The stored log-probs of a block when every one from index ``skip`` on is known."""
        values = self.scores.get(key) if key in self.blocks else None
        if values is None or any(v != v for v in values[skip:]):  # v != v: NaN
            return None
        return values

    def put(self, key: bytes, kv: torch.Tensor, scores: list[float] | None = None) -> None:
        if self.capacity == 0:
            return
        if scores is not None:  # merged with what is stored: a known value is never lost
            old = self.scores.get(key, scores)
            self.scores[key] = [a if a == a else b for a, b in zip(old, scores)]
        if key in self.blocks:
            self.blocks.move_to_end(key)
            return
        self.blocks[key] = kv
        while len(self.blocks) > self.capacity:
            self.scores.pop(self.blocks.popitem(last=False)[0], None)

    def served(self, tokens: int) -> None:
        """Tokens served from stored log-probs count for the hit rate like those from keys and values."""
        self.lookup_tokens, self.hit_tokens = self.lookup_tokens + tokens, self.hit_tokens + tokens

    def hit_rate(self) -> float:
        return self.hit_tokens / self.lookup_tokens if self.lookup_tokens else 0.0

    def stats(self) -> dict:
        return {"prefix_hit_rate": round(self.hit_rate(), 4), "prefix_lookup_tokens": self.lookup_tokens,
                "prefix_hit_tokens": self.hit_tokens, "prefix_blocks": len(self.blocks)}
