"""Exact match of parsed answers (procedural tasks), and accuracy, its name for closed label sets (with a
per-label breakdown and the confusion matrix)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ils.evaluate.metrics import METRICS, headline


def _hits(predictions: Sequence[Any], references: Sequence[Any]) -> int:
    return sum(p is not None and p == r for p, r in zip(predictions, references, strict=True))


@METRICS.register("exact_match")
def exact_match(predictions: Sequence[Any], references: Sequence[Any]) -> dict:
    """Share of records whose parsed answer equals the gold answer exactly."""
    hits = _hits(predictions, references)
    return headline("exact_match", hits / len(references) if references else 0.0, correct=hits)


@METRICS.register("accuracy")
def accuracy(predictions: Sequence[Any], references: Sequence[Any]) -> dict:
    """Share of records whose parsed label is the gold one, with each label's precision, recall, F1 and
    the confusion matrix beside it (an unparseable answer is wrong for every label)."""
    from ils.evaluate.metrics.classification import breakdown

    hits = _hits(predictions, references)
    out = headline("accuracy", hits / len(references) if references else 0.0, correct=hits)
    return {**out, **breakdown(predictions, references)}
