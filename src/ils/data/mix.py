"""Mixing sources by weight: a source's weight scales its share of the training split.

Weight < 1 samples that fraction of the source's training records; > 1 repeats them (whole copies,
then a sample for the remainder). Validation and test are never reweighted, so their scores stay
comparable across mixtures.
"""

from __future__ import annotations

import random
from typing import Sequence, TypeVar

T = TypeVar("T")


def reweight(items: Sequence[T], weight: float, rng: random.Random) -> list[T]:
    whole, frac = int(weight), weight - int(weight)
    out = list(items) * whole
    out += rng.sample(list(items), round(frac * len(items)))
    return out
