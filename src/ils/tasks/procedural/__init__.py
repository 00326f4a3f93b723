"""Built-in procedural instruction tasks: code-made from a seed, with exactly checkable answers.

They give an unlimited, data-free supply of instructions whose outputs can be scored by exact
match, which is what the demo and the tests need: a measurable gain from a few minutes of tuning.
``ils.tasks.TASKS`` finds every task module here by itself.

    from ils.tasks.procedural import generate, build_dataset
    build_dataset("data/proc", tasks=["add", "sort_numbers"], n=500, seed=0)
"""

from __future__ import annotations

from ils.tasks.procedural.base import ListTask, ProceduralTask, normalize, procedural, procedural_tasks
from ils.tasks.procedural.build import build_dataset, dedup, generate, resolve_tasks, split

__all__ = ["ListTask", "ProceduralTask", "build_dataset", "dedup", "generate", "normalize", "procedural",
           "procedural_tasks", "resolve_tasks", "split"]
