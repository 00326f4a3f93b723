"""Length-grouped batches with dynamic padding; the order is a pure function of (seed, epoch).

Because the plan is recomputed, not stored, a resumed run only needs the epoch and the batch index
to continue with exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

MEGABATCH = 64  # batches per sorting window: big enough to group lengths, small enough to mix


def batch_plan(lengths: Sequence[int], batch_size: int, seed: int, epoch: int,
               group_by_length: bool = True) -> list[list[int]]:
    """Shuffle, sort by length inside windows of MEGABATCH batches, then shuffle the batches."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    if group_by_length:
        window = batch_size * MEGABATCH
        chunks = [order[i:i + window] for i in range(0, len(order), window)]
        order = np.concatenate([c[np.argsort([-lengths[j] for j in c], kind="stable")] for c in chunks])
    batches = [order[i:i + batch_size].tolist() for i in range(0, len(order), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def collate(items: Sequence[tuple[list[int], list[int]]], pad_id: int) -> dict:
    """Right-pad (input_ids, labels) pairs to the longest item of this batch only."""
    import torch

    width = max(len(ids) for ids, _ in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    labels = torch.full((len(items), width), -100, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    for row, (x, y) in enumerate(items):
        ids[row, : len(x)] = torch.tensor(x)
        labels[row, : len(y)] = torch.tensor(y)
        mask[row, : len(x)] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}
