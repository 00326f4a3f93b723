"""Progress bars for the long stages (rich), silent when asked or when output is not a terminal."""

from __future__ import annotations

import sys
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


def track(items: Iterable[T], description: str, show: bool = True) -> Iterator[T]:
    if not show or not sys.stderr.isatty():
        yield from items
        return
    from rich.console import Console
    from rich.progress import track as rich_track

    total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
    yield from rich_track(items, description, total=total, console=Console(stderr=True), transient=True)
