"""Progress over optimizer steps: a Rich bar on a terminal, plain lines (``ils.progress.Ticker``) in a
log or a pipe — step, loss, tokens/s, validation, elapsed time and ETA, at least every 10 s even while
one long step runs."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

from ils.progress import Ticker, is_terminal


def info(m: dict) -> str:
    """The latest step's numbers: ``loss 0.413 · 270 tok/s · val 0.520 · val f1 0.71``."""
    text = f"loss {m['loss']:.3f} · {m['tok_per_s']:.0f} tok/s"
    if "val_loss" in m:
        text += f" · val {m['val_loss']:.3f}"
    if "val_score" in m:
        text += f" · val {m.get('val_metric', 'score')} {m['val_score']:.3f}"
    return text


@contextlib.contextmanager
def step_bar(total: int, done: int, enabled: bool = True,
             every: float | None = None) -> Iterator[Callable[[dict], None]]:
    if not enabled:
        yield lambda metrics: None
    elif is_terminal():
        with _rich_bar(total, done) as advance:
            yield advance
    else:
        with _lines(total, done, every) as advance:
            yield advance


@contextlib.contextmanager
def _lines(total: int, done: int, every: float | None) -> Iterator[Callable[[dict], None]]:
    ticker = Ticker("train", total, **({"every": every} if every else {}), unit="step")
    ticker.done = ticker.start_done = done
    ticker.tick(force=True)
    ticker.heartbeat()
    step = [done]

    def advance(m: dict) -> None:
        step[0] += 1
        ticker.update(step[0], info(m), force="val_loss" in m)

    try:
        yield advance
    finally:
        ticker.close()


@contextlib.contextmanager
def _rich_bar(total: int, done: int) -> Iterator[Callable[[dict], None]]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
               TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task("train", total=total, completed=done, info="")
        yield lambda m: bar.update(task, advance=1, info=info(m))
