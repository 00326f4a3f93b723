"""User task folders: one YAML or Python file per task, found through ``ILS_TASKS_PATH`` or a config.

A YAML task names a built-in ``base`` whose reader and parser it reuses, and brings its own label
space, options and templates; a Python file registers whatever it likes with ``TASKS``. Both are
the same kind of entry as a built-in, so nothing else needs to change to use them.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, Iterable

from ils.errors import ConfigError
from ils.io import read_yaml
from ils.tasks import TASKS
from ils.tasks.base import Task
from ils.tasks.templates import from_dict

ENV = "ILS_TASKS_PATH"
_loaded: set[Path] = set()


def task_dirs(extra: Iterable[str | Path] = ()) -> list[Path]:
    env = [p for p in os.environ.get(ENV, "").split(os.pathsep) if p]
    return [Path(p).expanduser() for p in [*env, *extra]]


def load_user_tasks(dirs: Iterable[str | Path] = ()) -> list[str]:
    """Register every ``*.yaml``/``*.yml``/``*.py`` task in the folders; returns the new names."""
    before = set(TASKS._items)
    for folder in task_dirs(dirs):
        if not folder.is_dir():
            raise ConfigError(f"{folder}: task folder not found (from {ENV} or task_dirs)")
        for path in sorted(folder.iterdir()):
            if path.resolve() not in _loaded and path.suffix in (".yaml", ".yml", ".py"):
                _loaded.add(path.resolve())
                _load_file(path)
    return sorted(set(TASKS._items) - before)


def _load_file(path: Path) -> None:
    if path.suffix == ".py":
        spec = importlib.util.spec_from_file_location(f"ils_user_task_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        return
    spec = read_yaml(path)
    try:
        task = task_from_spec(spec)
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{path}: {e}") from None
    TASKS.add(task)


def task_from_spec(spec: dict[str, Any]) -> Task:
    """A task from a YAML mapping: ``name``, ``base``, optional labels/metric/options/templates."""
    if not isinstance(spec, dict) or not spec.get("name"):
        raise ValueError("name: a task file needs a name")
    base = TASKS.get(spec.get("base", "classification"))
    task = base.configure(**spec.get("options", {}), labels=spec.get("labels"))
    task.name = str(spec["name"])
    task.metric = spec.get("metric", base.metric)
    if "input_fields" in spec:
        task.input_fields = tuple(spec["input_fields"])
    if spec.get("templates"):
        task.templates = tuple(_template(i, t) for i, t in enumerate(spec["templates"]))
    return task


def _template(i: int, t: Any) -> Any:
    try:
        return from_dict(t if isinstance(t, dict) else {})
    except ValueError as e:
        raise ValueError(f"templates[{i}]: {e}") from None
