"""Response bodies in OpenAI's shapes: a whole answer, or server-sent events one token at a time."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from fastapi.responses import StreamingResponse

from ils.infer.protocol import Completion
from ils.serve.errors import APIError, body
from ils.serve.jobs import Job


@dataclass
class Answer:
    id: str
    kind: str  # chat | text
    model: str
    created: int
    start: float

    def head(self) -> dict:
        obj = "chat.completion.chunk" if self.kind == "chat" else "text_completion"
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model}

    def body(self, done: list[Completion]) -> dict:
        failed = [c for c in done if c.finish_reason == "error"]
        if failed:
            raise APIError(500, f"generation failed: {failed[0].error}", type="server_error", code="engine_error")
        if self.kind == "chat":
            choices = [{"index": i, "message": {"role": "assistant", "content": c.text},
                        "finish_reason": c.finish_reason, "logprobs": None} for i, c in enumerate(done)]
            extra = {"object": "chat.completion", "system_fingerprint": None}
        else:
            choices = [{"index": i, "text": c.text, "finish_reason": c.finish_reason, "logprobs": None}
                       for i, c in enumerate(done)]
            extra = {"object": "text_completion"}
        return {"id": self.id, "created": self.created, "model": self.model, **extra, "choices": choices,
                "usage": usage(done)}

    def piece(self, index: int, text: str | None = None, finish: str | None = None, role: bool = False) -> dict:
        if self.kind == "chat":
            delta = {"role": "assistant", "content": ""} if role else ({"content": text} if text else {})
            choice = {"index": index, "delta": delta, "finish_reason": finish}
        else:
            choice = {"index": index, "text": text or "", "finish_reason": finish, "logprobs": None}
        return {**self.head(), "choices": [choice]}


def usage(done: list[Completion]) -> dict:
    prompt = sum(c.prompt_tokens for c in done)
    answer = sum(c.completion_tokens for c in done)
    return {"prompt_tokens": prompt, "completion_tokens": answer, "total_tokens": prompt + answer}


async def stream_events(job: Job, answer: Answer, log: Callable[[list[Completion]], Awaitable[None]],
                        include_usage: bool) -> AsyncIterator[dict]:
    """Chunks as the engine produces tokens; the client going away aborts the job (``finally``)."""
    try:
        if answer.kind == "chat":
            for i in range(len(job.requests)):
                yield answer.piece(i, role=True)
        async for index, text in job.pieces():
            if text is not None:
                yield answer.piece(index, text)
            else:
                yield _end(answer, job, index)
        done = job.results()
        await log(done)
        if include_usage:
            yield {**answer.head(), "choices": [], "usage": usage(done)}
    finally:
        job.abort()


def _end(answer: Answer, job: Job, index: int) -> dict:
    r = job.requests[index]
    if r.finish == "error":
        return body(f"generation failed: {r.error}", "server_error", "engine_error")
    return answer.piece(index, finish=r.finish)


def sse(chunks: AsyncIterator[dict]) -> StreamingResponse:
    async def events() -> AsyncIterator[str]:
        async for chunk in chunks:
            yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
