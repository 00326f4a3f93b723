"""A Rich progress bar over optimizer steps that shows the latest loss and speed."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


@contextlib.contextmanager
def step_bar(total: int, done: int, enabled: bool = True) -> Iterator[Callable[[dict], None]]:
    if not enabled:
        yield lambda metrics: None
        return
    columns = (TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
               TimeRemainingColumn())
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("train", total=total, completed=done, info="")

        def advance(m: dict) -> None:
            info = f"loss {m['loss']:.3f} · {m['tok_per_s']:.0f} tok/s"
            if "val_loss" in m:
                info += f" · val {m['val_loss']:.3f}"
            bar.update(task, advance=1, info=info)

        yield advance
