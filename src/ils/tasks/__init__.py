"""Tasks: what an instruction asks, how its output is parsed back, and which metric scores it.

``TASKS`` is the registry; built-in tasks register on import of their module (see ``load_builtins``).
"""

from __future__ import annotations

from ils.registry import Registry
from ils.tasks.base import Task

TASKS: Registry[Task] = Registry("task")

_BUILTIN_MODULES = (
    "ils.tasks.procedural",
    "ils.tasks.classification",
    "ils.tasks.nli",
    "ils.tasks.ner",
    "ils.tasks.qa",
    "ils.tasks.summarization",
    "ils.tasks.translation",
    "ils.tasks.dialogue",
    "ils.tasks.code",
    "ils.tasks.open",
)


def load_builtins() -> Registry[Task]:
    """Import the built-in task modules once, so their decorators fill ``TASKS``."""
    import importlib

    for name in _BUILTIN_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:  # a built-in that is not on this branch (yet) is skipped
                raise
    from ils.tasks.user import load_user_tasks

    load_user_tasks()
    return TASKS


def get_task(name: str) -> Task:
    return load_builtins().get(name)


__all__ = ["TASKS", "Task", "get_task", "load_builtins"]
