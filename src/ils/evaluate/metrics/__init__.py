"""Metric families: ``compute(predictions, references) -> dict`` over parsed answers.

One family per file, registered by name (``METRICS`` finds the files itself); a task names the family
that scores it (``Task.metric``), unless it brings its own official scorer (``Task.compute``).

The contract every family keeps:
- ``predictions[i]`` is a task's parsed answer, or ``None`` when the output was unparseable; ``None``
  always counts as wrong (it is never mapped to a class), and the runner reports how many there were.
- the result holds ``score``: the headline number in [0, 1], higher is better, plus the family's own
  named numbers (and the family name itself as a key, an alias of ``score``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ils.registry import Registry

Metric = Callable[[Sequence[Any], Sequence[Any]], dict]
METRICS: Registry[Metric] = Registry("metric", package=__name__)


def load_builtins() -> Registry[Metric]:
    return METRICS.find()


def get_metric(name: str) -> Metric:
    return METRICS.get(name)


def headline(name: str, score: float, **extra: Any) -> dict:
    """A metric result: the family name and ``score`` both hold the headline number."""
    return {name: score, "score": score, **extra}
