"""The engines registry: ``--engine hf | llamacpp | openai:URL[,URL...]`` → an ``Engine``.

Each backend is one module in ``ils/infer/backends/`` that registers a factory under its name, the
way a plugin would (other packages add theirs through the ``ils.engines`` entry point group).
A factory is called as ``factory(model, target, **options)``: ``model`` is what ``--model`` named,
``target`` the part after the colon (the URLs of ``openai:``), ``options`` engine settings such as
``dtype``, ``threads`` or ``concurrency``; a factory ignores options it has no use for.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Callable

from ils.registry import Registry

# A factory returns an ils.infer.protocol.Engine; protocol is not imported here because its
# Engine.load imports this module.
Factory = Callable[..., Any]
ENGINES: Registry[Factory] = Registry("engine")
_found = False


def _find_builtins() -> None:
    global _found
    if _found:
        return
    _found = True
    from ils.infer import backends

    for mod in pkgutil.iter_modules(backends.__path__):
        importlib.import_module(f"{backends.__name__}.{mod.name}")


def load_engine(model: str = "default", engine: str = "hf", **options: Any) -> Any:
    """The engine named by ``engine`` serving ``model`` (a name, folder, run folder, .gguf or served id)."""
    _find_builtins()
    kind, _, target = engine.partition(":")
    return ENGINES.get(kind)(model, target, **options)


def engine_names() -> list[str]:
    _find_builtins()
    return ENGINES.names()
