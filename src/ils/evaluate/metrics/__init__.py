"""Metric families: ``compute(predictions, references) -> dict`` over parsed answers.

One family per file, registered by name; a task names the family that scores it (``Task.metric``).
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Sequence

from ils.registry import Registry

Metric = Callable[[Sequence[Any], Sequence[Any]], dict]
METRICS: Registry[Metric] = Registry("metric")
_BUILTIN = ("ils.evaluate.metrics.exact",)


def get_metric(name: str) -> Metric:
    for module in _BUILTIN:
        importlib.import_module(module)
    return METRICS.get(name)
