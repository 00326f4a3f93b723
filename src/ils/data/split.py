"""Train/validation/test split: stratified by label, grouped by source document.

Whole groups (a CoNLL document, a SQuAD article) go to one split, so no document straddles two;
within each label stratum groups are shuffled with the seed and each goes to the split that is
furthest below its share. Records without a group are groups of one.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from typing import Sequence

from ils.data.config import SPLITS


def assign_splits(groups: Sequence[str], labels: Sequence[str | None], fractions: dict[str, float],
                  seed: int) -> list[str]:
    """The split of every record (same order as ``groups``)."""
    members: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    strata: dict[str, list[str]] = defaultdict(list)
    for g, idx in members.items():
        strata[_stratum([labels[i] for i in idx])].append(g)
    out = [""] * len(groups)
    rng = random.Random(seed)
    for key in sorted(strata, key=str):
        for g, split in _fill(sorted(strata[key]), members, fractions, rng).items():
            for i in members[g]:
                out[i] = split
    return out


def _stratum(labels: list[str | None]) -> str:
    """A group's stratum: its most common label ('' when records have none)."""
    counts = Counter(lab for lab in labels if lab is not None)
    return counts.most_common(1)[0][0] if counts else ""


def _fill(groups: list[str], members: dict[str, list[int]], fractions: dict[str, float],
          rng: random.Random) -> dict[str, str]:
    rng.shuffle(groups)
    total = sum(len(members[g]) for g in groups)
    have = {s: 0 for s in SPLITS}
    out = {}
    for g in groups:
        # The split furthest below its target share; ties go to the earlier split (train first).
        split = max(SPLITS, key=lambda s: (fractions[s] * total - have[s], -SPLITS.index(s)))
        have[split] += len(members[g])
        out[g] = split
    return out
