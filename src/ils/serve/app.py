"""The OpenAI-compatible HTTP app: chat and text completions (streaming too), models, feedback, health.

Every generation goes through the ``Batcher`` (one worker thread, one ``Engine``), and every request
and answer is logged to the store. Streaming generates the whole answer in the shared batch, then
sends it as SSE chunks of a few characters: clients get the OpenAI stream shape and the server keeps
batching (a token-by-token stream would need one ``generate`` per request).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles

from ils.infer.engine import Sampling
from ils.serve import errors
from ils.serve.auth import Keys
from ils.serve.batching import Batcher, QueueFull
from ils.serve.errors import APIError, BodyLimit
from ils.serve.pool import load_pool
from ils.serve.schemas import ChatRequest, CompletionRequest, FeedbackRequest, ReloadRequest, SamplingFields
from ils.store.db import Store, StoreError

STATIC = Path(__file__).parent / "static"


@dataclass
class ServerState:
    batcher: Batcher
    store: Store
    keys: Keys
    max_tokens: int = 128
    max_body: int = 1 << 20
    version: str | None = None
    reloads: int = 0
    _reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def pool(self) -> Any:
        return self.batcher.pool


@dataclass
class Generated:
    id: str
    outputs: list[str]
    finish: list[str]
    usage: dict
    created: int


def create_app(state: ServerState, on_start: Callable[[ServerState], None] | None = None) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if on_start:
            on_start(state)
        yield
        await asyncio.to_thread(state.batcher.close)

    app = FastAPI(title="ILS", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.ils = state
    errors.install(app)
    app.add_middleware(BodyLimit, limit=state.max_body)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _routes(app, state)
    return app


def _routes(app: FastAPI, state: ServerState) -> None:
    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/health")
    async def health() -> dict:  # no key needed, so no local path: a loaded folder shows by its name only
        version = Path(state.version).name if state.version else None
        return {"status": "ok", "waiting": state.batcher.waiting, "version": version,
                "reloads": state.reloads, "auth": state.keys.required}

    @app.get("/v1/models")
    async def models(request: Request) -> dict:
        state.keys.check(request)
        return {"object": "list", "data": [{"id": m, "object": "model", "created": 0, "owned_by": "ils"}
                                           for m in state.pool.ids()]}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(req: ChatRequest, request: Request) -> Any:
        key = state.keys.check(request)
        chat_ = [m.as_dict() for m in req.messages]
        gen = await _generate(state, req, "chat", [chat_], chat_, key)
        if req.stream:
            return _sse(_chat_chunks(gen, req.model))
        choices = [{"index": i, "message": {"role": "assistant", "content": o}, "finish_reason": f,
                    "logprobs": None} for i, (o, f) in enumerate(zip(gen.outputs, gen.finish))]
        return {"id": gen.id, "object": "chat.completion", "created": gen.created, "model": req.model,
                "choices": choices, "usage": gen.usage, "system_fingerprint": None}

    @app.post("/v1/completions", response_model=None)
    async def completions(req: CompletionRequest, request: Request) -> Any:
        key = state.keys.check(request)
        prompts = [req.prompt] if isinstance(req.prompt, str) else req.prompt
        if not prompts:
            raise APIError(400, "prompt: must not be empty", param="prompt")
        gen = await _generate(state, req, "text", prompts, req.prompt, key)
        if req.stream:
            return _sse(_text_chunks(gen, req.model))
        choices = [{"index": i, "text": o, "finish_reason": f, "logprobs": None}
                   for i, (o, f) in enumerate(zip(gen.outputs, gen.finish))]
        return {"id": gen.id, "object": "text_completion", "created": gen.created, "model": req.model,
                "choices": choices, "usage": gen.usage}

    @app.post("/v1/feedback")
    async def feedback(req: FeedbackRequest, request: Request) -> dict:
        state.keys.check(request)
        try:
            fid = await asyncio.to_thread(state.store.add_feedback, req.completion_id, req.rating,
                                          req.correction, req.comment)
        except StoreError as e:
            raise APIError(404, str(e), code="completion_not_found", param="completion_id") from None
        return {"id": fid, "object": "feedback", "completion_id": req.completion_id, "stored": True}

    @app.post("/admin/reload")
    async def reload(request: Request, req: ReloadRequest | None = None) -> dict:
        state.keys.check(request, admin=True)
        try:
            return await reload_model(state, req.model if req else None)
        except APIError as e:  # the same answer whether or not a path exists; the detail goes to the log
            print(f"ils serve: {e.message}", file=sys.stderr, flush=True)
            raise APIError(400, "reload failed: the model could not be loaded (the server log says why)",
                           code="reload_failed") from None


async def reload_model(state: ServerState, ref: str | None = None) -> dict:
    """Load ``ref`` (default: the store's current version) beside the running model, then swap it in
    on the worker thread between batches: no request in flight is dropped."""
    async with state._reload_lock:
        version = None
        if ref is None:
            row = await asyncio.to_thread(state.store.current_version)
            if row is None:
                raise APIError(400, "no version in the store to reload; pass {\"model\": RUN_DIR}")
            ref, version = row.run_dir, row.name
        old = state.pool
        try:
            new = await asyncio.to_thread(load_pool, ref, old.adapters, old.base_id, old.engine.batch_size)
        except Exception as e:  # noqa: BLE001  (any load failure: the old model keeps serving)
            raise APIError(400, f"reload {ref}: {e}", code="reload_failed") from None
        await state.batcher.run_in_worker(lambda: setattr(state.batcher, "pool", new))
        state.version, state.reloads = version or ref, state.reloads + 1
        return {"model": new.base_id, "loaded": ref, "version": state.version}


async def _generate(state: ServerState, req: SamplingFields, kind: str, items: list, prompt: Any,
                    key: int | None) -> Generated:
    pool = state.pool
    try:
        adapter = pool.adapter_of(req.model)
    except KeyError:
        raise APIError(404, f"model '{req.model}' not found; served: {', '.join(pool.ids())}",
                       code="model_not_found", param="model") from None
    max_new = req.max_completion_tokens or req.max_tokens or state.max_tokens
    counts = [pool.count(kind, item) for item in items]
    if max(counts) + max_new > pool.context:
        raise APIError(400, f"this model's context is {pool.context} tokens; the prompt has {max(counts)} "
                       f"and max_tokens is {max_new}", code="context_length_exceeded", param="messages")
    stops = (req.stop,) if isinstance(req.stop, str) else tuple(req.stop or ())
    sampling = Sampling(max_new, req.temperature, req.top_p, req.seed or 0, stops)
    rows = [item for item in items for _ in range(req.n)]
    start = time.perf_counter()
    try:
        outputs = await state.batcher.submit(adapter, kind, rows, sampling)
    except QueueFull as e:
        raise APIError(429, f"server busy: {e}; retry later", type="rate_limit_error", code="queue_full") from None
    latency = (time.perf_counter() - start) * 1000
    return await _record(state, req, kind, prompt, adapter, outputs, counts, latency, key)


async def _record(state: ServerState, req: SamplingFields, kind: str, prompt: Any, adapter: str | None,
                  outputs: list[str], counts: list[int], latency: float, key: int | None) -> Generated:
    max_new = req.max_completion_tokens or req.max_tokens or state.max_tokens
    # re-encoded output length, capped: the engine returns text, not token ids
    out_counts = [min(state.pool.count("text", o), max_new) for o in outputs]
    finish = ["length" if c >= max_new else "stop" for c in out_counts]
    cid = ("chatcmpl-" if kind == "chat" else "cmpl-") + uuid.uuid4().hex
    params = req.model_dump(exclude={"messages", "prompt"})
    await asyncio.to_thread(state.store.log_completion, id=cid, kind=kind, model=req.model, adapter=adapter,
                            prompt=prompt, output=outputs[0], choices=outputs, params=params,
                            latency_ms=latency, key_id=key)
    usage = {"prompt_tokens": sum(counts) * req.n, "completion_tokens": sum(out_counts),
             "total_tokens": sum(counts) * req.n + sum(out_counts)}
    return Generated(cid, outputs, finish, usage, int(time.time()))


def _pieces(text: str) -> list[str]:
    return re.findall(r"\s*\S+|\s+", text) or [""]


def _sse(chunks: AsyncIterator[dict]) -> StreamingResponse:
    async def events() -> AsyncIterator[str]:
        async for chunk in chunks:
            yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


async def _chat_chunks(gen: Generated, model: str) -> AsyncIterator[dict]:
    head = {"id": gen.id, "object": "chat.completion.chunk", "created": gen.created, "model": model}
    for i, (text, finish) in enumerate(zip(gen.outputs, gen.finish)):
        yield {**head, "choices": [{"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
        for piece in _pieces(text):
            yield {**head, "choices": [{"index": i, "delta": {"content": piece}, "finish_reason": None}]}
        yield {**head, "choices": [{"index": i, "delta": {}, "finish_reason": finish}]}


async def _text_chunks(gen: Generated, model: str) -> AsyncIterator[dict]:
    head = {"id": gen.id, "object": "text_completion", "created": gen.created, "model": model}
    for i, (text, finish) in enumerate(zip(gen.outputs, gen.finish)):
        for piece in _pieces(text):
            yield {**head, "choices": [{"index": i, "text": piece, "finish_reason": None, "logprobs": None}]}
        yield {**head, "choices": [{"index": i, "text": "", "finish_reason": finish, "logprobs": None}]}
