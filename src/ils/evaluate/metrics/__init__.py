"""Metric families: ``compute(predictions, references) -> dict`` over parsed answers.

One family per file, registered by name; a task names the family that scores it (``Task.metric``).

The contract every family keeps:
- ``predictions[i]`` is a task's parsed answer, or ``None`` when the output was unparseable; ``None``
  always counts as wrong (it is never mapped to a class), and the runner reports how many there were.
- the result holds ``score``: the headline number in [0, 1], higher is better, plus the family's own
  named numbers (and the family name itself as a key, an alias of ``score``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

from ils.registry import Registry

Metric = Callable[[Sequence[Any], Sequence[Any]], dict]
METRICS: Registry[Metric] = Registry("metric")
_BUILTIN = ("exact", "classification", "entities", "squad", "rouge", "bleu", "code")


def load_builtins() -> Registry[Metric]:
    for name in _BUILTIN:
        importlib.import_module(f"ils.evaluate.metrics.{name}")
    return METRICS


def get_metric(name: str) -> Metric:
    return load_builtins().get(name)


def headline(name: str, score: float, **extra: Any) -> dict:
    """A metric result: the family name and ``score`` both hold the headline number."""
    return {name: score, "score": score, **extra}
