"""Exact match of parsed answers (procedural tasks), and accuracy, its name for closed label sets."""

from __future__ import annotations

from typing import Any, Sequence

from ils.evaluate.metrics import METRICS


@METRICS.register("exact_match")
def exact_match(predictions: Sequence[Any], references: Sequence[Any]) -> dict:
    hits = sum(p == r for p, r in zip(predictions, references, strict=True))
    return {"exact_match": hits / len(references) if references else 0.0, "correct": hits}


@METRICS.register("accuracy")
def accuracy(predictions: Sequence[Any], references: Sequence[Any]) -> dict:
    hits = sum(p == r for p, r in zip(predictions, references, strict=True))
    return {"accuracy": hits / len(references) if references else 0.0, "correct": hits}
