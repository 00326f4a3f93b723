"""Waiting for a batch of engine requests, with progress a person can see.

On a terminal: a Rich bar (done/total, rate, time left). Piped or redirected: a plain line on stderr
every ``every`` seconds (done/total, tok/s is left to the caller), so ``ils eval > log`` still shows
that it is alive.
"""

from __future__ import annotations

import sys
import threading
import time


class Waiter:
    def __init__(self, total: int, label: str | None = None, every: float = 10.0):
        self.total, self.label, self.every = total, label, every
        self.count = 0
        self._lock = threading.Lock()
        self._all = threading.Event()
        if total == 0:
            self._all.set()

    def done(self, _: object = None) -> None:
        """Called on the engine's thread as each request finishes."""
        with self._lock:
            self.count += 1
            if self.count >= self.total:
                self._all.set()

    def wait(self) -> None:
        if self.label is None:
            while not self._all.wait(0.5):  # a timeout keeps Ctrl-C responsive
                pass
        elif sys.stderr.isatty():
            self._bar()
        else:
            self._lines()

    def _bar(self) -> None:
        from rich.console import Console
        from rich.progress import Progress

        with Progress(console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task(self.label, total=self.total)
            while not self._all.wait(0.2):
                bar.update(task, completed=self.count)

    def _lines(self) -> None:
        start = last = time.monotonic()
        while not self._all.wait(0.5):
            now = time.monotonic()
            if now - last >= self.every:
                last = now
                rate = self.count / (now - start)
                left = (self.total - self.count) / rate if rate else float("nan")
                print(f"{self.label}: {self.count}/{self.total} done, {rate:.1f}/s, ~{left:.0f} s left",
                      file=sys.stderr, flush=True)
