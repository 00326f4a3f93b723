"""Progress of the long build stages: a Rich bar on a terminal, plain lines (``ils.progress.Ticker``)
every few seconds in a log or a pipe, nothing when asked to be silent."""

from __future__ import annotations

from typing import Iterable, Iterator, TypeVar

from ils.progress import Ticker, is_terminal

T = TypeVar("T")


def track(items: Iterable[T], description: str, show: bool = True) -> Iterator[T]:
    total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
    if not show:
        yield from items
    elif is_terminal():
        from rich.console import Console
        from rich.progress import track as rich_track

        yield from rich_track(items, description, total=total, console=Console(stderr=True), transient=True)
    else:
        yield from _lines(items, description, total)


def _lines(items: Iterable[T], description: str, total: int | None) -> Iterator[T]:
    ticker = Ticker(description, total, unit="records")
    for n, item in enumerate(items, 1):
        yield item
        ticker.update(n)
    ticker.close(final=ticker.clock() - ticker.started >= ticker.every)
