"""One small registry class behind every extension point (tasks, methods, metrics, sources, stores).

Built-ins register with the same decorator a plugin would use; other packages add entries through
the entry-point group ``ils.<kind>`` (loaded lazily, on first lookup).
"""

from __future__ import annotations

from importlib import metadata
from typing import Any, Callable, Generic, TypeVar

from ils.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name → object table with a helpful error for unknown names."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}
        self._plugins_loaded = False

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            self.add(name, obj)
            return obj

        return decorator

    def add(self, name: str, obj: T) -> None:
        if name in self._items and self._items[name] is not obj:
            raise ConfigError(f"{self.kind} '{name}' is registered twice")
        self._items[name] = obj

    def get(self, name: str) -> T:
        self._load_plugins()
        if name not in self._items:
            known = ", ".join(sorted(self._items)) or "none"
            raise ConfigError(f"unknown {self.kind} '{name}'; known: {known}")
        return self._items[name]

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        self._load_plugins()
        return name in self._items

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in metadata.entry_points(group=f"ils.{self.kind}s"):
            obj: Any = ep.load()
            if ep.name not in self._items:
                self._items[ep.name] = obj
