"""The OpenAI-compatible HTTP app: chat and text completions (streaming too), models, feedback, health.

Every request is checked before anything is queued (model, context, token cap, queue room), then
each choice becomes one request of the engine, which batches all clients' tokens together step by
step. Streams are token by token: a piece of text is sent the moment the engine produces it, and a
client that goes away has its choices dropped from the running batch. Every answer is logged to the
store before the response ends, so feedback can refer to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from ils.infer.protocol import Completion, EngineError, Sampling
from ils.serve import errors
from ils.serve.auth import Keys
from ils.serve.errors import APIError, BodyLimit
from ils.serve.jobs import Job
from ils.serve.logprobs import choice_logprobs
from ils.serve.pool import ModelPool, load_pool
from ils.serve.schemas import ChatRequest, CompletionRequest, FeedbackRequest, ReloadRequest, SamplingFields
from ils.serve.stream import Answer, sse, stream_events
from ils.store.db import Store, StoreError

STATIC = Path(__file__).parent / "static"


@dataclass
class ServerState:
    pool: ModelPool
    store: Store
    keys: Keys
    max_tokens: int = 128  # the default and the cap of max_tokens
    max_body: int = 1 << 20
    max_queue_tokens: int = 1 << 17  # prompt + max_tokens of everything waiting for the engine
    version: str | None = None
    reloads: int = 0
    _reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def engine(self) -> Any:
        return self.pool.engine


def create_app(state: ServerState, on_start: Callable[[ServerState], None] | None = None) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if on_start:
            on_start(state)
        yield
        await asyncio.to_thread(state.pool.engine.close, False)

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
        stats = state.engine.stats()
        version = Path(state.version).name if state.version else None
        kv = {k: stats[k] for k in ("kv_bytes", "kv_peak_bytes", "kv_budget_bytes")}
        return {"status": "ok", "waiting": stats["waiting"], "running": stats["running"],
                "prefix_hit_rate": stats["prefix_hit_rate"], "kv": kv, "version": version,
                "reloads": state.reloads, "auth": state.keys.required}

    @app.get("/v1/models")
    async def models(request: Request) -> dict:
        state.keys.check(request)
        return {"object": "list", "data": [{"id": m, "object": "model", "created": 0, "owned_by": "ils",
                                            "max_model_len": state.pool.context} for m in state.pool.ids()]}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(req: ChatRequest, request: Request) -> Any:
        key = state.keys.check(request)
        chat_ = [m.as_dict() for m in req.messages]
        return await _answer(state, req, "chat", [chat_], chat_, key)

    @app.post("/v1/completions", response_model=None)
    async def completions(req: CompletionRequest, request: Request) -> Any:
        key = state.keys.check(request)
        prompts = [req.prompt] if isinstance(req.prompt, str) else req.prompt
        if not prompts:
            raise APIError(400, "prompt: must not be empty", param="prompt")
        return await _answer(state, req, "text", prompts, req.prompt, key)

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
    """Load ``ref`` (default: the store's current version) beside the running model and swap it in;
    requests already running finish on the old engine, which is closed once it is idle."""
    async with state._reload_lock:
        version = None
        if ref is None:
            row = await asyncio.to_thread(state.store.current_version)
            if row is None:
                raise APIError(400, "no version in the store to reload; pass {\"model\": RUN_DIR}")
            ref, version = row.run_dir, row.name
        old = state.pool
        try:
            new = await asyncio.to_thread(load_pool, ref, old.adapters, old.base_id, **old.engine.options)
        except Exception as e:  # noqa: BLE001  (any load failure: the old model keeps serving)
            raise APIError(400, f"reload {ref}: {e}", code="reload_failed") from None
        state.pool = new
        asyncio.get_running_loop().run_in_executor(None, old.engine.close)
        state.version, state.reloads = version or ref, state.reloads + 1
        return {"model": new.base_id, "loaded": ref, "version": state.version}


async def _answer(state: ServerState, req: SamplingFields, kind: str, items: list, prompt: Any,
                  key: int | None) -> Any:
    pool = state.pool
    adapter = _adapter(pool, req.model)
    max_new = _max_tokens(state, req)
    ids = [pool.encode(kind, item) for item in items]
    _check_room(state, req, ids, max_new)
    job, echo = Job(pool.engine), _echo_job(state, req, kind, ids, adapter)
    try:  # the prompt is scored first, so the answer starts from the blocks (and log-probs) it leaves
        echoed = await echo.wait() if echo else None
    finally:
        if echo:
            echo.abort()
    try:
        job.start([x for x in ids for _ in range(req.n)], _settings(req, max_new, len(ids)), pool.route(adapter))
    except EngineError as e:  # the model was swapped out between the check and the submit
        job.abort()
        raise APIError(503, f"{e}; retry", type="server_error", code="reloading") from None
    answer = Answer(("chatcmpl-" if kind == "chat" else "cmpl-") + uuid.uuid4().hex, kind, req.model,
                    int(time.time()), time.perf_counter())
    log = lambda done: _record(state, req, answer, prompt, adapter, done, key)  # noqa: E731
    if req.stream:
        return sse(stream_events(job, answer, log, _include_usage(req)))
    try:
        done = await job.wait()
    finally:
        job.abort()
    await log(done)
    return _with_logprobs(answer.body(done), req, pool, items, echoed, done)


def _echo_job(state: ServerState, req: SamplingFields, kind: str, ids: list[list[int]],
              adapter: str | None) -> Job | None:
    """For ``echo`` with ``logprobs``: the prompts scored token by token, beside their completions."""
    if kind != "text" or not (req.echo or req.logprobs is not None):
        return None
    if req.stream:
        raise APIError(400, "echo and logprobs are not available with stream", param="stream")
    if not req.echo or req.logprobs is None:
        return None
    job = Job(state.pool.engine)
    job.start(ids, [Sampling(logprobs=True)] * len(ids), state.pool.route(adapter), score_from=1)
    return job


def _with_logprobs(body: dict, req: SamplingFields, pool: ModelPool, items: list, echoed: Any,
                   done: list[Completion]) -> dict:
    if getattr(req, "logprobs", None) is None and not getattr(req, "echo", False):
        return body
    for choice, c in zip(body["choices"], done):
        i = choice["index"] // req.n
        prompt_lps = echoed[i].token_logprobs if echoed else None
        if req.echo:
            choice["text"] = items[i] + choice["text"]
        if req.logprobs is not None:
            choice["logprobs"] = choice_logprobs(pool.encoder, items[i], prompt_lps, c)
    return body


def _adapter(pool: ModelPool, model: str) -> str | None:
    try:
        return pool.adapter_of(model)
    except KeyError:
        raise APIError(404, f"model '{model}' not found; served: {', '.join(pool.ids())}",
                       code="model_not_found", param="model") from None


def _max_tokens(state: ServerState, req: SamplingFields) -> int:
    asked = req.max_completion_tokens or req.max_tokens
    if asked is not None and asked > state.max_tokens:
        param = "max_completion_tokens" if req.max_completion_tokens else "max_tokens"
        raise APIError(400, f"{param} is {asked}; this server allows at most {state.max_tokens}",
                       code="max_tokens_exceeded", param=param)
    return asked or state.max_tokens


def _check_room(state: ServerState, req: SamplingFields, ids: list[list[int]], max_new: int) -> None:
    """400 for what can never run; 429 when the queue is full now (the client may retry)."""
    context, longest = state.pool.context, max(len(x) for x in ids)
    if longest + max_new > context:
        raise APIError(400, f"this model's context is {context} tokens; the prompt has {longest} and "
                       f"max_tokens is {max_new}", code="context_length_exceeded", param="messages")
    need = sum(len(x) + max_new for x in ids) * req.n
    if need > state.max_queue_tokens:
        raise APIError(400, f"this request needs {need} tokens (prompts + max_tokens, times n), more than "
                       f"the server's queue holds ({state.max_queue_tokens}); send fewer prompts or a smaller n",
                       code="request_too_large")
    queued = state.engine.queued_tokens()
    if queued + need > state.max_queue_tokens:
        raise APIError(429, f"server busy: {queued} tokens are queued (limit {state.max_queue_tokens}); "
                       "retry later", type="rate_limit_error", code="queue_full")


def _settings(req: SamplingFields, max_new: int, prompts: int) -> list[Sampling]:
    stops = (req.stop,) if isinstance(req.stop, str) else tuple(req.stop or ())
    seed = req.seed if req.seed is not None else random.getrandbits(63)  # OpenAI: no seed, no repeats
    logprobs = getattr(req, "logprobs", None) is not None
    return [Sampling(max_new, req.temperature, req.top_p, seed + j, stops, req.ignore_eos, logprobs)
            for _ in range(prompts) for j in range(req.n)]


def _include_usage(req: SamplingFields) -> bool:
    return bool(req.stream_options and req.stream_options.include_usage)


async def _record(state: ServerState, req: SamplingFields, answer: Answer, prompt: Any, adapter: str | None,
                  done: list[Completion], key: int | None) -> None:
    params = req.model_dump(exclude={"messages", "prompt"})
    latency = (time.perf_counter() - answer.start) * 1000
    outputs = [c.text for c in done]
    await asyncio.to_thread(state.store.log_completion, id=answer.id, kind=answer.kind, model=req.model,
                            adapter=adapter, prompt=prompt, output=outputs[0], choices=outputs, params=params,
                            latency_ms=latency, key_id=key)
