"""One small registry class behind every extension point (tasks, methods, metrics, heads, sources, …).

A registry finds its own entries: on first lookup it imports every module of its ``package`` (the
built-ins register themselves there, with the same call a plugin uses), then the entry points of the
group ``ils.<kind>s`` that installed packages declare. Nobody keeps a list of built-in modules, and
adding an entry is one new file. A lookup of an unknown name looks for new plugins once more before
it fails, listing the known names. An entry's name is written once: ``add(obj)`` takes ``obj.name``.
"""

from __future__ import annotations

import importlib
import pkgutil
from importlib import metadata
from typing import Any, Callable, Generic, TypeVar

from ils.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name → object table that fills itself from a package and from entry points."""

    def __init__(self, kind: str, package: str | None = None, refresh: Callable[[], Any] | None = None):
        self.kind, self.package, self.refresh = kind, package, refresh
        self._items: dict[str, T] = {}
        self._found = False

    def register(self, name: str | Any = None) -> Any:
        """``@REG.register`` (the object's own ``name``) or ``@REG.register("name")``."""
        if name is not None and not isinstance(name, str):
            self.add(name)
            return name

        def decorator(obj: T) -> T:
            self.add(obj, name)
            return obj

        return decorator

    def add(self, obj: T, name: str | None = None) -> T:
        name = name or getattr(obj, "name", None)
        if not name or not isinstance(name, str):
            raise ConfigError(f"a {self.kind} needs a name: give it a 'name' attribute")
        if name in self._items and self._items[name] is not obj:
            raise ConfigError(f"{self.kind} '{name}' is registered twice")
        self._items[name] = obj
        return obj

    def remove(self, name: str) -> None:
        """Take an entry out again (tests that add one remove it afterwards)."""
        self._items.pop(name, None)

    def get(self, name: str) -> T:
        self.find()
        if name not in self._items:
            self._scan()  # a plugin installed (or a task file added) since the first lookup
        if name not in self._items:
            known = ", ".join(sorted(self._items)) or "none"
            raise ConfigError(f"unknown {self.kind} '{name}'; known: {known}")
        return self._items[name]

    def names(self) -> list[str]:
        self.find()
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        self.find()
        return name in self._items

    def find(self) -> "Registry[T]":
        """Import the built-in package and the plugins once."""
        if not self._found:
            self._found = True
            if self.package:
                _import_all(self.package)
            self._scan()
        return self

    def _scan(self) -> None:
        for ep in metadata.entry_points(group=f"ils.{self.kind}s"):
            if ep.name not in self._items:
                self._items[ep.name] = ep.load()
        if self.refresh is not None:
            self.refresh()


def _import_all(package: str) -> None:
    """Import ``package`` and every module below it (sub-packages too)."""
    pkg = importlib.import_module(package)
    for mod in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}."):
        importlib.import_module(mod.name)
