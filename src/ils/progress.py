"""Progress a person can follow when the output is a log file or a pipe, not a terminal.

A terminal gets Rich bars (drawn by the stages themselves). Anywhere else a bar draws nothing until it
ends, so a redirected ``ils train`` looked dead for minutes; ``Ticker`` prints plain lines on stderr
instead: one when the work starts, then one whenever ``every`` seconds have passed, and one at the end.
A heartbeat thread prints the line even when the work itself is stuck in one long step (a 1,024-token
batch, a model load, likelihood scoring), so a line comes at least every ``every`` seconds however slow
the work is. The clock (``now``) and the heartbeat's wait are module attributes and arguments, so tests
drive time by hand instead of sleeping. The inference engine's batch waits print the same kind of lines
(``ils.infer.progress``).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, Callable, TextIO

EVERY = 10.0  # seconds between lines
now: Callable[[], float] = time.monotonic


def is_terminal(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


def duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``."""
    s = int(max(0, seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class Ticker:
    """Plain progress lines: ``label: 12/100 · loss 0.413 · 270 tok/s · 1m05s · ETA 9m10s``."""

    def __init__(self, label: str, total: int | None = None, every: float = EVERY, stream: TextIO | None = None,
                 clock: Callable[[], float] | None = None, unit: str = ""):
        self.label, self.total, self.every, self.unit = label, total, every, unit
        self.stream = stream or sys.stderr
        self.clock = clock or (lambda: now())
        self.done, self.start_done, self.info = 0, 0, ""
        self.printed: tuple | None = None  # (done, info) of the last line, so the end is not said twice
        self.started = self.last = self.clock()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def update(self, done: int | None = None, info: str = "", force: bool = False) -> None:
        """Record progress; print a line if one is due (or ``force``)."""
        with self._lock:
            self.done = self.done + 1 if done is None else done
            self.info = info or self.info
        self.tick(force)

    def tick(self, force: bool = False) -> bool:
        """Print the current line if ``every`` seconds have passed since the last one."""
        with self._lock:
            t = self.clock()
            if not force and t - self.last < self.every:
                return False
            self.last, self.printed = t, (self.done, self.info)
            text = self.line(t)
        print(text, file=self.stream, flush=True)
        return True

    def line(self, t: float | None = None) -> str:
        t = self.clock() if t is None else t
        elapsed = t - self.started
        count = f"{self.done}/{self.total}" if self.total else str(self.done) if self.done else ""
        head = " ".join(x for x in (f"{self.label}:", self.unit if count else "", count) if x)
        parts = [head, *([self.info] if self.info else []), duration(elapsed)]
        rate = (self.done - self.start_done) / elapsed if elapsed > 0 else 0.0
        if self.total and rate > 0 and self.done < self.total:
            parts.append(f"ETA {duration((self.total - self.done) / rate)}")
        return " · ".join(parts)

    # -- heartbeat ---------------------------------------------------------------------------------
    def heartbeat(self, wait: Callable[[float], bool] | None = None, poll: float = 1.0) -> "Ticker":
        """Check every ``poll`` seconds, from a daemon thread, whether a line is due (``wait`` returns
        True to stop; by default it is the stop event's wait)."""
        wait = wait or self._stop.wait
        self._thread = threading.Thread(target=self._beat, args=(wait, poll), daemon=True)
        self._thread.start()
        return self

    def _beat(self, wait: Callable[[float], bool], poll: float) -> None:
        while not wait(poll):
            self.tick()

    def close(self, final: bool = True) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if final and self.printed != (self.done, self.info):
            self.tick(force=True)

    def __enter__(self) -> "Ticker":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close(final=exc[0] is None)


def say(text: str, stream: TextIO | None = None) -> None:
    """One line about what a stage is doing now, on stderr (terminal or not)."""
    print(text, file=stream or sys.stderr, flush=True)


class Working:
    """``with Working("eval zero-shot: scoring by likelihood"):`` — lines while a call without its own
    progress runs (only when stderr is not a terminal; on a terminal the stage's own bar shows)."""

    def __init__(self, label: str, every: float = EVERY, show: bool = True):
        self.ticker = Ticker(label, every=every) if show and not is_terminal() else None

    def __enter__(self) -> "Working":
        if self.ticker is not None:
            self.ticker.info = "running"
            self.ticker.heartbeat()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.ticker is not None:
            self.ticker.info = "done"
            self.ticker.close(final=exc[0] is None and self.ticker.clock() - self.ticker.started >= self.ticker.every)
