"""One worker thread drains a queue of requests and groups them into batched engine calls.

Requests that want the same adapter, kind (chat or text) and sampling become one ``generate`` call,
so 16 concurrent clients cost little more than one; the worker waits up to ``window`` seconds
after the first request of a batch for others to arrive. The queue is bounded: past ``max_queue``
waiting prompts, ``submit`` raises ``QueueFull`` (the server answers 429). A model swap
(``ils loop`` promoted a version) is a queue item too, so requests already queued finish first.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import astuple, dataclass, field
from typing import Any

from ils.infer.engine import Sampling


class QueueFull(Exception):
    pass


@dataclass
class Job:
    adapter: str | None
    kind: str
    items: list[Any]
    sampling: Sampling
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    action: Callable[[], Any] | None = field(default=None)

    def key(self) -> tuple:
        return (self.adapter, self.kind, astuple(self.sampling))


class Batcher:
    def __init__(self, pool: Any, max_queue: int = 256, max_batch: int = 64, window: float = 0.02):
        self.pool, self.max_queue, self.max_batch, self.window = pool, max_queue, max_batch, window
        self.queue: queue.Queue[Job | None] = queue.Queue()
        self.waiting = 0
        self.batches = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._work, name="ils-batcher", daemon=True)
        self._thread.start()

    async def submit(self, adapter: str | None, kind: str, items: list[Any], sampling: Sampling) -> list[str]:
        with self._lock:
            if self.waiting + len(items) > self.max_queue:
                raise QueueFull(f"{self.waiting} prompts are waiting (limit {self.max_queue})")
            self.waiting += len(items)
        loop = asyncio.get_running_loop()
        job = Job(adapter, kind, items, sampling, loop, loop.create_future())
        self.queue.put(job)
        return await job.future

    async def run_in_worker(self, action: Callable[[], Any]) -> Any:
        """Run ``action`` on the worker thread between batches (used to swap the model)."""
        loop = asyncio.get_running_loop()
        job = Job(None, "action", [], Sampling(), loop, loop.create_future(), action)
        self.queue.put(job)
        return await job.future

    def close(self) -> None:
        self.queue.put(None)
        self._thread.join(timeout=30)

    def _work(self) -> None:
        while (job := self.queue.get()) is not None:
            self._run(self._collect(job))

    def _collect(self, first: Job) -> list[Job]:
        """The first job plus whatever arrives within ``window`` seconds (clients of one burst are
        parsed a few milliseconds apart; without the window the first would run alone)."""
        jobs, deadline = [first], time.monotonic() + self.window
        while len(jobs) < self.max_batch:
            try:
                nxt = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if nxt is None:
                self.queue.put(None)
                break
            jobs.append(nxt)
        return jobs

    def _run(self, jobs: list[Job]) -> None:
        groups: dict[tuple, list[Job]] = {}
        for job in jobs:
            if job.action is not None:
                self._run_groups(groups)
                groups = {}
                _settle(job, lambda j=job: j.action())
            else:
                groups.setdefault(job.key(), []).append(job)
        self._run_groups(groups)

    def _run_groups(self, groups: dict[tuple, list[Job]]) -> None:
        for group in groups.values():
            items = [x for job in group for x in job.items]
            first = group[0]
            self.batches += 1
            try:
                outputs = self.pool.generate(first.adapter, first.kind, items, first.sampling)
            except Exception as e:  # noqa: BLE001  (the error goes to every request of the batch; the worker lives on)
                outputs, error = None, e
            with self._lock:
                self.waiting -= len(items)
            start = 0
            for job in group:
                n = len(job.items)
                part = outputs[start:start + n] if outputs is not None else None
                start += n
                _settle(job, (lambda p=part: p) if part is not None else _raiser(error))


def _raiser(error: Exception) -> Callable[[], Any]:
    def fail() -> Any:
        raise error

    return fail


def _settle(job: Job, compute: Callable[[], Any]) -> None:
    try:
        value, error = compute(), None
    except Exception as e:  # noqa: BLE001  (handed to the waiting request, which re-raises it)
        value, error = None, e

    def apply() -> None:
        if job.future.done():  # the client went away
            return
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(value)

    job.loop.call_soon_threadsafe(apply)
