"""Exact match of parsed answers (procedural tasks), and accuracy, its name for closed label sets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ils.evaluate.metrics import METRICS, headline


def _hits(predictions: Sequence[Any], references: Sequence[Any]) -> int:
    return sum(p is not None and p == r for p, r in zip(predictions, references, strict=True))


@METRICS.register("exact_match")
def exact_match(predictions: Sequence[Any], references: Sequence[Any]) -> dict:
    hits = _hits(predictions, references)
    return headline("exact_match", hits / len(references) if references else 0.0, correct=hits)


@METRICS.register("accuracy")
def accuracy(predictions: Sequence[Any], references: Sequence[Any]) -> dict:
    hits = _hits(predictions, references)
    return headline("accuracy", hits / len(references) if references else 0.0, correct=hits)
