"""The ``hf`` engine: a local model behind the continuous-batching scheduler, on a worker thread.

Everything that generates or scores (evaluation, self-instruct, ``ils run``, chat, the server) hands
its prompts to one engine; the worker thread steps the scheduler while there is work, so requests
from many callers (the server's clients, all chunks of a long input) share every forward pass.
``submit`` is the low-level, thread-safe entry (the server streams through it); ``generate``,
``score`` and ``stream`` are the protocol's blocking calls on top of it.
"""

from __future__ import annotations

import atexit
import itertools
import queue
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ils.infer.kvcache import RowCache, round_up
from ils.infer.prefix import PrefixStore
from ils.infer.protocol import (Completion, Engine, EngineError, OnText, Prompt, Sampling, is_chat,
                                per_prompt)
from ils.infer.runner import ModelRunner, unsupported
from ils.infer.scheduler import Request, Scheduler
from ils.models.chat import render_prompt

KV_BYTES = 2 << 30  # default KV budget: 2 GiB of keys and values (about 45k tokens of SmolLM2 in float32)
_LIVE: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    """Stop engine threads before the interpreter tears torch down under them."""
    for engine in list(_LIVE):
        engine.close(drain=False)


class LocalEngine(Engine):
    name = "hf"

    def __init__(self, model: Any, tok: Any, *, batch_size: int = 64, kv_tokens: int | None = None,
                 prefix_tokens: int | None = None, step_tokens: int = 512, identity: str = ""):
        self.model, self.tok, self.identity = model, tok, identity
        self.options = dict(batch_size=batch_size, kv_tokens=kv_tokens, prefix_tokens=prefix_tokens,
                            step_tokens=step_tokens)
        self.runner = ModelRunner(model)
        shape = self.runner.shape()
        self.context = int(getattr(self.runner.base.config, "max_position_embeddings", 0) or 2048)
        budget = kv_tokens or KV_BYTES // shape.bytes_per_token()
        self.cache = RowCache(shape, budget)
        prefix = PrefixStore(budget // 2 if prefix_tokens is None else prefix_tokens)
        self.sched = Scheduler(self.runner, self.cache, prefix, tok, context=self.context,
                               eos=eos_ids(model, tok), max_rows=batch_size, step_tokens=step_tokens)
        self._cv = threading.Condition()
        self._incoming: deque[Request] = deque()
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None
        self._closed = False
        _LIVE.add(self)

    @classmethod
    def load(cls, ref: str, *, dtype: str = "auto", merge: bool = True, **options: Any) -> Engine:
        """A model name, folder, .gguf or run folder; the static fallback where rows cannot run it."""
        import torch

        from ils.cpu import default_dtype
        from ils.infer.static import StaticEngine
        from ils.models.loading import load_any

        chosen = default_dtype(dtype)
        model, tok, desc = load_any(ref, getattr(torch, chosen), merge)
        identity = weights_identity(ref, desc) + ("" if chosen == "float32" else f"|{chosen}")
        why = unsupported(model)
        if why:
            return StaticEngine(model, tok, options.get("batch_size", 16), identity, why)
        return cls(model, tok, identity=identity, **options)

    # -- the low-level, thread-safe entry ----------------------------------------------------
    def submit(self, ids: Sequence[int], sampling: Sampling, *, adapter: str | None = None,
               score_from: int | None = None, on_text: Callable[[str], None] | None = None,
               on_done: Callable[[Request], None] | None = None,
               options: Sequence[Sequence[int]] = ()) -> Request:
        """Queue one request; ``options`` (token lists) are scored after the prompt as soon as it is
        read, from its cached blocks, each a child request that also reports to ``on_done``."""
        self.check(len(ids), sampling, score_from)
        r = Request(next(self._ids), list(ids), sampling, adapter, score_from, on_text, on_done,
                    prompt_len=len(ids))
        r.children = [Request(next(self._ids), list(ids) + list(o), Sampling(), adapter, len(ids),
                              on_done=on_done) for o in options if o]
        with self._cv:
            if self._closed:
                raise EngineError("the engine is closed")
            self._incoming.append(r)
            self._cv.notify()
        self._start()
        return r

    def check(self, prompt_len: int, sampling: Sampling, score_from: int | None = None) -> None:
        """Refuse what can never run, before it is queued."""
        if prompt_len == 0:
            raise EngineError("empty prompt: nothing to continue")
        if prompt_len >= self.context and score_from is None:
            raise EngineError(f"the prompt has {prompt_len} tokens; this model's context is {self.context}")
        need = prompt_len if score_from is not None else min(self.context, prompt_len + sampling.max_new_tokens)
        if round_up(need) > self.cache.budget:
            raise EngineError(f"prompt + max_new_tokens = {need} tokens exceed the KV cache budget of "
                              f"{self.cache.budget} tokens (raise --kv-tokens)")
        if score_from is None and sampling.max_new_tokens < 1:
            raise EngineError("max_new_tokens must be at least 1")

    def abort(self, r: Request) -> None:
        """Drop a request (a client went away): its row is freed at the next step."""
        r.aborted = True
        with self._cv:
            self._cv.notify()

    def _start(self) -> None:
        with self._cv:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="ils-engine", daemon=True)
                self._thread.start()

    def _work(self) -> None:
        """Step while there is work; once closed, finish what was submitted (drain), then stop."""
        while True:
            with self._cv:
                if not self._incoming:
                    self.sched.idle()
                while not self._incoming and not self.sched.busy() and not self._closed:
                    self._cv.wait()
                if self._closed and not self._incoming and not self.sched.busy():
                    return
                while self._incoming:
                    self.sched.add(self._incoming.popleft())
            self._step()

    def _step(self) -> None:
        try:
            if self.sched.step() == 0:
                with self._cv:
                    self._cv.wait(0.005)  # only aborted or blocked requests: do not spin
        except Exception as e:  # noqa: BLE001  (a scheduler fault fails its requests, not the engine)
            self.sched.fail_all(f"{type(e).__name__}: {e}")

    # -- the protocol --------------------------------------------------------------------------
    def generate(self, prompts: Sequence[Prompt], sampling: Sampling | Sequence[Sampling] | None = None, *,
                 adapter: str | None = None, on_text: OnText | None = None,
                 progress: bool = False) -> list[Completion]:
        settings = self._settings(sampling, len(prompts))
        ids = [self.encode(p) for p in prompts]
        for x, s in zip(ids, settings):
            self.check(len(x), s)
        texts = (lambda i: (lambda piece: on_text(i, piece))) if on_text else (lambda i: None)
        reqs = self._run([dict(ids=x, sampling=s, adapter=adapter, on_text=texts(i))
                          for i, (x, s) in enumerate(zip(ids, settings))], "generate" if progress else None)
        return [completion(r) for r in reqs]

    def score(self, prompts: Sequence[Prompt], options: Sequence[Sequence[str]], *,
              adapter: str | None = None) -> list[list[float]]:
        """Each prompt runs once (its blocks land in the prefix cache), then every option continues
        from the cached prompt: k options cost one prompt pass plus their own tokens."""
        heads = [self.encode(p) for p in prompts]
        tails = [[self.tok(o, add_special_tokens=False).input_ids for o in opts] for opts in options]
        out: list[list[float]] = []
        for part in _parts(heads, self.sched.prefix.capacity * self.sched.prefix.block // 2):
            self._run([dict(ids=heads[i], sampling=Sampling(), adapter=adapter, score_from=len(heads[i]))
                       for i in part])
            jobs = [(i, t) for i in part for t in tails[i]]
            reqs = self._run([dict(ids=heads[i] + t, sampling=Sampling(), adapter=adapter,
                                   score_from=len(heads[i])) for i, t in jobs if t])
            values = iter(r.logprob for r in reqs)
            out += [[next(values) if t else 0.0 for t in tails[i]] for i in part]
        return out

    def generate_scored(self, prompts: Sequence[Prompt], sampling: Sampling | None,
                        options: Sequence[Sequence[str]], *, adapter: str | None = None,
                        progress: bool = False) -> tuple[list[Completion], list[list[float]] | None]:
        """Each prompt is read once for both: its options are scored from its cached blocks as soon as
        it has been read, while its answer is still being generated."""
        settings = self._settings(sampling, len(prompts))
        ids = [self.encode(p) for p in prompts]
        tails = [[self.tok(o, add_special_tokens=False).input_ids for o in opts] for opts in options]
        for x, s in zip(ids, settings):
            self.check(len(x), s)
        jobs = [dict(ids=x, sampling=s, adapter=adapter, options=t) for x, s, t in zip(ids, settings, tails)]
        extra = sum(1 for t in tails for o in t if o)
        reqs = self._run(jobs, "generate" if progress else None, extra=extra)
        return [completion(r) for r in reqs], [_option_scores(r, t) for r, t in zip(reqs, tails)]

    def stream(self, prompt: Prompt, sampling: Sampling | None = None, *,
               adapter: str | None = None) -> Iterator[str]:
        pieces: queue.Queue[str | None] = queue.Queue()
        r = self.submit(self.encode(prompt), sampling or Sampling(), adapter=adapter, on_text=pieces.put,
                        on_done=lambda _: pieces.put(None))
        try:
            while (piece := pieces.get()) is not None:
                yield piece
        finally:
            self.abort(r)
        if r.finish == "error":
            raise EngineError(f"generation failed: {r.error}")

    def _settings(self, sampling: Sampling | Sequence[Sampling] | None, n: int) -> list[Sampling]:
        settings = per_prompt(sampling, n)
        if isinstance(sampling, Sampling) and sampling.temperature > 0:  # one setting: a seed per prompt
            settings = [replace(s, seed=s.seed + i) for i, s in enumerate(settings)]
        return settings

    def count_tokens(self, prompt: Prompt) -> int:
        return len(self.encode(prompt))

    def encode(self, prompt: Prompt) -> list[int]:
        text = render_prompt(self.tok, prompt) if is_chat(prompt) else prompt
        return self.tok(text, add_special_tokens=False).input_ids

    def stats(self) -> dict:
        return self.sched.stats()

    @property
    def prefix_tokens(self) -> int:
        """How many prompt tokens the prefix cache holds."""
        return self.sched.prefix.capacity * self.sched.prefix.block

    def queued_tokens(self) -> int:
        """Prompt + max new tokens of every request not yet running (the server's queue limit)."""
        with self._cv:  # copying a deque is one C call under the GIL: safe beside the engine thread
            waiting = list(self._incoming) + list(self.sched.waiting)
        return sum(r.need(self.context) for r in waiting)

    def close(self, drain: bool = True) -> None:
        """Refuse new requests; finish the submitted ones (or abort them: ``drain=False``); stop."""
        if self._closed and (self._thread is None or not self._thread.is_alive()):
            return
        with self._cv:
            self._closed = True
            pending = list(self._incoming) + self.sched.running + list(self.sched.waiting)
            self._cv.notify()
        if not drain:
            for r in pending:
                r.aborted = True
        if self._thread is not None:
            self._thread.join()
        self.runner.release()

    def _run(self, jobs: list[dict], label: str | None = None, extra: int = 0) -> list[Request]:
        """Submit every job, wait for all (and ``extra`` child requests; a progress bar when
        ``label``); Ctrl-C aborts them."""
        from ils.infer.progress import Waiter

        waiter = Waiter(len(jobs) + extra, label)
        reqs = [self.submit(on_done=waiter.done, **job) for job in jobs]
        try:
            waiter.wait()
        except BaseException:
            for r in reqs:
                self.abort(r)
            raise
        failed = [r for r in reqs if r.finish == "error"]
        if failed:
            raise EngineError(f"{len(failed)} of {len(reqs)} requests failed: {failed[0].error}")
        return reqs


def completion(r: Request) -> Completion:
    answer = r.tokens[r.prompt_len:]
    text = r.stream.text if r.stream is not None else ""
    return Completion(text, r.finish or "abort", r.prompt_len, len(answer), answer, r.error, r.token_logprobs)


def _option_scores(r: Request, tails: list[list[int]]) -> list[float]:
    """The parent's option scores in order (an empty option scores 0.0: nothing to predict)."""
    failed = [c for c in r.children if c.finish != "stop"]
    if failed:
        raise EngineError(f"scoring an option failed: {failed[0].error or failed[0].finish}")
    values = iter(c.logprob for c in r.children)
    return [next(values) if t else 0.0 for t in tails]


def eos_ids(model: Any, tok: Any) -> set[int]:
    """The tokenizer's EOS plus any the generation config lists (chat models often end on another)."""
    ids = {tok.eos_token_id} if tok.eos_token_id is not None else set()
    extra = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids |= set(extra) if isinstance(extra, (list, tuple)) else ({extra} if extra is not None else set())
    return ids


def _parts(heads: list[list[int]], capacity: int) -> Iterator[list[int]]:
    """Prompt indices in groups whose tokens fit the prefix cache between the two scoring passes."""
    part: list[int] = []
    used = 0
    for i, h in enumerate(heads):
        if part and used + len(h) > capacity:
            yield part
            part, used = [], 0
        part.append(i)
        used += len(h)
    if part:
        yield part


def weights_identity(ref: str, desc: dict) -> str:
    """Names, sizes and modification times of the weight files behind ``ref``: cheap (no hashing of
    gigabytes) and different as soon as a run folder at the same path is trained again."""
    root = Path(ref) if (Path(ref) / "ils.json").is_file() else Path(desc.get("folder", ref))
    files = sorted(p for p in root.rglob("*.safetensors") if "checkpoints" not in p.parts) if root.is_dir() else []
    return ref + "".join(f"|{p.relative_to(root)}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)

