"""Tasks: what an instruction asks, how its output is parsed back, and which metric scores it.

``TASKS`` is the registry. It finds the built-in tasks itself (every module of this package registers
what it defines), then plugins (entry points ``ils.tasks``), then the user's task folders
(``ILS_TASKS_PATH``, see ``ils.tasks.user``).
"""

from __future__ import annotations

from ils.registry import Registry
from ils.tasks.base import Task


def _user_tasks() -> None:
    from ils.tasks.user import load_user_tasks

    load_user_tasks()


TASKS: Registry[Task] = Registry("task", package=__name__, refresh=_user_tasks)


def load_builtins() -> Registry[Task]:
    """The registry with its built-ins, plugins and user tasks found."""
    return TASKS.find()


def get_task(name: str) -> Task:
    return TASKS.get(name)


__all__ = ["TASKS", "Task", "get_task", "load_builtins"]
