"""One HTTP request's choices running in the engine, seen from the event loop.

The engine calls back on its own thread as each token's text arrives and as each choice ends; the
callbacks hop onto the event loop (``call_soon_threadsafe``) into one queue, so a streaming response
forwards each piece the moment it exists, and a plain response simply waits for the ends. A job
that is dropped (the client went away) aborts its unfinished choices: their rows are free at the
engine's next step.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from ils.infer.engine import completion
from ils.infer.protocol import Completion, Sampling
from ils.infer.scheduler import Request


class Job:
    def __init__(self, engine: Any):
        self.engine = engine
        self.loop = asyncio.get_running_loop()
        self.events: asyncio.Queue[tuple[int, str | None]] = asyncio.Queue()
        self.requests: list[Request] = []

    def start(self, prompts: list[list[int]], settings: list[Sampling], adapter: str | None,
              score_from: int | None = None) -> None:
        """Submit one engine request per choice (``prompts[i]`` with ``settings[i]``); with
        ``score_from`` the requests score their own tokens from there on instead of generating."""
        for ids, s in zip(prompts, settings):
            i = len(self.requests)
            self.requests.append(self.engine.submit(
                ids, s, adapter=adapter, score_from=score_from,
                on_text=lambda piece, i=i: self.loop.call_soon_threadsafe(self.events.put_nowait, (i, piece)),
                on_done=lambda _, i=i: self.loop.call_soon_threadsafe(self.events.put_nowait, (i, None))))

    async def pieces(self) -> AsyncIterator[tuple[int, str | None]]:
        """(choice, text piece) as they come; (choice, None) when that choice has ended."""
        open_ = len(self.requests)
        while open_:
            index, piece = await self.events.get()
            open_ -= piece is None
            yield index, piece

    async def wait(self) -> list[Completion]:
        async for _ in self.pieces():
            pass
        return self.results()

    def results(self) -> list[Completion]:
        return [completion(r) for r in self.requests]

    def abort(self) -> None:
        for r in self.requests:
            if r.finish is None:
                self.engine.abort(r)
