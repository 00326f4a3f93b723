"""The ``openai:URL[,URL...]`` engine: any OpenAI-compatible server (vLLM, llama.cpp's server, TGI, ils
serve).

This is how evaluation, self-instruct and long-input plans scale past one machine: point it at a fleet
of vLLM replicas. Requests go through the official ``openai`` client (its own retries off), at most
``concurrency`` in flight. Request k goes to URL k mod n (round robin) and each retry moves on to the
next URL, so a dead or overloaded replica costs a retry, not an answer. Connection errors, timeouts,
408/409/429 and 5xx are retried with exponential back-off; a rejected key or a model the server does
not serve stops everything at once with an ``EngineError`` naming the URL and the model.

Chat prompts go to /v1/chat/completions (the server applies its model's chat template), raw texts to
/v1/completions. ``score`` asks /v1/completions for the log-probs of the prompt itself (``echo``,
``logprobs: 1``, ``max_tokens: 1``, as lm-evaluation-harness does) and sums those of the option's
characters; a server that returns none (TGI, llama.cpp's server, ils serve) gets a clear error.
With ``on_error="return"`` a request that still fails after its retries comes back as a Completion
with ``finish_reason="error"`` instead of raising (self-instruct records it as a dropped prompt).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ils.infer.engines import ENGINES
from ils.infer.protocol import Completion, Engine, EngineError, Prompt, Sampling, is_chat, per_prompt

RETRY_STATUS = (408, 409, 429)


@ENGINES.register("openai")
def openai_engine(model: str, target: str = "", **options: Any) -> Engine:
    """``batch_size`` (the CLI's) becomes requests in flight per URL, so a fleet is kept as busy as a
    local batch; the served model's tokenizer (to render chats for scoring and counting) is the local
    model of the same name when there is one."""
    urls = parse_urls(target)
    if options.get("concurrency") is None and options.get("batch_size"):
        options["concurrency"] = options["batch_size"] * len(urls)
    options.setdefault("tokenizer", _local(model))
    return OpenAIEngine(urls, model, **options)


def _local(model: str) -> str | None:
    from ils.errors import ILSError
    from ils.models.sources import source_kind

    try:
        source_kind(model)
    except ILSError:
        return None
    return model


def parse_urls(target: str) -> list[str]:
    """``http://a:8000/v1,http://b:8000`` → base URLs ending in /v1 (added when only a host is given)."""
    urls = [u.strip().rstrip("/") for u in target.split(",") if u.strip()]
    if not urls:
        raise EngineError("--engine openai:URL[,URL...]: no URL given (e.g. openai:http://127.0.0.1:8000/v1)")
    bad = [u for u in urls if not u.startswith(("http://", "https://"))]
    if bad:
        raise EngineError(f"--engine openai:{target}: {bad[0]!r} is not an http(s):// URL")
    return [u if u.split("://", 1)[1].count("/") else u + "/v1" for u in urls]


class Aborted(Exception):
    """Another request of the same call already failed for good: stop retrying."""


class OpenAIEngine(Engine):
    name = "openai"

    def __init__(self, urls: Sequence[str], model: str = "default", *, concurrency: int | None = None,
                 retries: int = 3, backoff: float = 0.5, timeout: float = 60.0, api_key: str | None = None,
                 api_key_env: str = "OPENAI_API_KEY", budget: int | None = None, on_error: str = "raise",
                 tokenizer: str | None = None, context: int | None = None,
                 sleep: Callable[[float], None] = time.sleep, **_: Any):
        import openai

        if on_error not in ("raise", "return"):
            raise EngineError(f"on_error {on_error!r}: expected raise or return")
        key = api_key or os.environ.get(api_key_env) or "EMPTY"  # vLLM's convention for "no key needed"
        self.urls, self.model, self.on_error = list(urls), model, on_error
        self.clients = [openai.OpenAI(base_url=u, api_key=key, max_retries=0, timeout=timeout) for u in urls]
        self.concurrency = concurrency or 4 * len(self.urls)
        self.retries, self.backoff, self.sleep = retries, backoff, sleep
        self.budget, self.requests, self.exhausted = budget, 0, False
        self._next, self._lock = itertools.count(), threading.Lock()
        self._tokenizer_ref, self._tok, self._context = tokenizer, None, context

    # -- the protocol --------------------------------------------------------------------------
    def generate(self, prompts: Sequence[Prompt], sampling: Sampling | Sequence[Sampling] | None = None, *,
                 adapter: str | None = None, on_text: Any = None, progress: bool = False) -> list[Completion]:
        settings = per_prompt(sampling, len(prompts))
        model = adapter or self.model  # vLLM serves each LoRA module under its own model name
        abort = threading.Event()

        def one(i: int) -> Completion:
            done = self._guarded(lambda client, url: self._complete(client, prompts[i], settings[i], model),
                                 model, abort)
            if on_text:
                on_text(i, done.text)
                on_text(i, "")
            return done

        return self._map(one, len(prompts), abort)

    def score(self, prompts: Sequence[Prompt], options: Sequence[Sequence[str]], *,
              adapter: str | None = None) -> list[list[float]]:
        texts = [self._text(p) for p in prompts]
        model, abort = adapter or self.model, threading.Event()
        out: list[list[float]] = [[0.0] * len(opts) for opts in options]

        def run(pairs: list[tuple[int, int]]) -> None:
            def one(k: int) -> float:
                i, j = pairs[k]
                return self._request(lambda c, url: self._option_logprob(c, url, texts[i], options[i][j], model),
                                     model, abort)

            for (i, j), value in zip(pairs, self._map(one, len(pairs), abort)):
                out[i][j] = value

        # Each prompt's first option before the rest: a server with a prefix cache (vLLM, ils serve,
        # which also keeps the log-probs it echoed) reads the prompt once, not once per option.
        run([(i, 0) for i, o in enumerate(options) if o])
        run([(i, j) for i, o in enumerate(options) for j in range(1, len(o))])
        return out

    def count_tokens(self, prompt: Prompt) -> int:
        return len(self._tokenizer().encode(self._text(prompt), add_special_tokens=False))

    @property
    def context(self) -> int:  # type: ignore[override]
        """The server's context length (vLLM's ``max_model_len`` in /v1/models), else 2048."""
        if self._context is None:
            entry = next((m for m in self._served(0) if m.get("id") == self.model), {})
            self._context = int(entry.get("max_model_len") or 2048)
        return self._context

    def close(self) -> None:
        for client in self.clients:
            client.close()

    # -- requests: round robin, retries, budget ------------------------------------------------
    def _map(self, fn: Callable[[int], Any], n: int, abort: threading.Event) -> list:
        if n == 0:
            return []
        with ThreadPoolExecutor(max(1, min(self.concurrency, n))) as pool:
            futures = [pool.submit(fn, i) for i in range(n)]
            try:
                return [f.result() for f in futures]
            except BaseException:
                abort.set()
                raise

    def _guarded(self, call: Callable[[Any, str], Completion], model: str,
                 abort: threading.Event) -> Completion:
        """``_request``, with a request that failed for good returned as an error Completion if asked."""
        try:
            return self._request(call, model, abort)
        except EngineError as e:
            if self.on_error == "raise" or getattr(e, "fatal", False):
                raise
            return Completion("", "error", error=str(e))

    def _request(self, call: Callable[[Any, str], Any], model: str, abort: threading.Event) -> Any:
        import openai

        start, last = next(self._next), "no request made"
        for attempt in range(self.retries + 1):
            if abort.is_set():
                raise EngineError("cancelled: another request failed first")
            k = (start + attempt) % len(self.urls)
            self._take()
            try:
                return call(self.clients[k], self.urls[k])
            except (openai.AuthenticationError, openai.PermissionDeniedError) as e:
                url = self.urls[k]
                raise _fatal(f"{url}: the server rejected the key (HTTP {e.status_code})") from None
            except openai.NotFoundError as e:
                raise self._not_found(k, model, e) from None
            except openai.APIStatusError as e:
                last = f"{self.urls[k]}: HTTP {e.status_code}{_message(e)}"
                if e.status_code < 500 and e.status_code not in RETRY_STATUS:
                    raise EngineError(last) from None
            except openai.APITimeoutError:
                last = f"{self.urls[k]}: no answer within {self.clients[k].timeout} s (timeout)"
            except openai.APIConnectionError as e:
                last = f"{self.urls[k]}: cannot connect ({_cause(e)})"
            except (openai.APIError, ValueError, TypeError, AttributeError, IndexError) as e:
                last = f"{self.urls[k]}: unreadable answer ({type(e).__name__}: {str(e)[:120]})"
            if attempt < self.retries:
                self.sleep(self.backoff * 2 ** attempt)
        raise EngineError(f"openai engine, model {model!r}: failed after {self.retries + 1} attempts; "
                          f"last: {last}")

    def _take(self) -> None:
        with self._lock:
            if self.budget is not None and self.requests >= self.budget:
                self.exhausted = True
                raise EngineError("request budget exhausted")
            self.requests += 1

    def _not_found(self, k: int, model: str, e: Exception) -> EngineError:
        served = [m.get("id") for m in self._served(k)]
        if served and model not in served:
            return _fatal(f"{self.urls[k]}: the server does not serve model {model!r}; it serves: "
                          f"{', '.join(map(str, served))} (pass one with --model)")
        return _fatal(f"{self.urls[k]}: HTTP 404 for model {model!r}{_message(e)} (is the URL's path /v1?)")

    def _served(self, k: int) -> list[dict]:
        try:
            return [m.model_dump() for m in self.clients[k].models.list().data]
        except Exception:  # only used to improve a message or guess the context
            return []

    # -- one request of each kind --------------------------------------------------------------
    def _complete(self, client: Any, prompt: Prompt, s: Sampling, model: str) -> Completion:
        kw = dict(model=model, max_tokens=s.max_new_tokens, temperature=s.temperature, top_p=s.top_p,
                  seed=s.seed, stop=list(s.stop) or None)
        if is_chat(prompt):
            r = client.chat.completions.create(messages=list(prompt), **kw)
            text = r.choices[0].message.content
        else:
            r = client.completions.create(prompt=prompt, **kw)
            text = r.choices[0].text
        if not isinstance(text, str):
            raise ValueError("the answer has no text")
        usage = r.usage
        text, cut = _cut(text, s.stop)
        finish = "length" if r.choices[0].finish_reason == "length" and not cut else "stop"
        return Completion(text, finish, getattr(usage, "prompt_tokens", 0) or 0,
                          getattr(usage, "completion_tokens", 0) or 0)

    def _option_logprob(self, client: Any, url: str, context: str, option: str, model: str) -> float:
        r = client.completions.create(model=model, prompt=context + option, max_tokens=1, temperature=0,
                                      echo=True, logprobs=1)
        lp = r.choices[0].logprobs
        values = getattr(lp, "token_logprobs", None) if lp else None
        if not values:
            raise _fatal(f"{url}: the server returned no prompt log-probs (echo + logprobs), so it cannot "
                         "score options; use a server that does (vLLM) or --engine hf / llamacpp")
        # Measured back from the one generated token (the last entry), which starts where the echoed
        # prompt ends: offsets stay right when the server counts a BOS token the text does not show.
        offsets = lp.text_offset or list(itertools.accumulate([0] + [len(t) for t in lp.tokens[:-1]]))
        end = offsets[-1]
        return float(sum(v for v, o in zip(values[:-1], offsets[:-1])
                         if end - len(option) <= o < end and v is not None))

    # -- chat prompts rendered here (scoring, counting) ---------------------------------------
    def _tokenizer(self) -> Any:
        if self._tok is None:
            if not self._tokenizer_ref:
                raise EngineError("the openai engine needs tokenizer=MODEL (a local model or folder with the "
                                  "served model's tokenizer and chat template) to count tokens or score")
            from ils.models.loading import load_tokenizer
            from ils.models.sources import resolve

            self._tok = load_tokenizer(resolve(self._tokenizer_ref))
        return self._tok

    def _text(self, prompt: Prompt) -> str:
        if not is_chat(prompt):
            return prompt
        from ils.models.chat import render_prompt

        return render_prompt(self._tokenizer(), prompt)


def _fatal(message: str) -> EngineError:
    """An error no retry or other URL can fix: it is raised even with on_error='return'."""
    e = EngineError(message)
    e.fatal = True  # type: ignore[attr-defined]
    return e


def _cut(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """Servers drop the stop string; cut here too for those that keep it."""
    hits = [text.index(s) for s in stops if s and s in text]
    return (text[: min(hits)], True) if hits else (text, False)


def _message(e: Any) -> str:
    """``: <the server's error message>``, or nothing when it sent none."""
    body = getattr(e, "body", None)
    body = body.get("error", body) if isinstance(body, dict) else body
    text = body.get("message") if isinstance(body, dict) else body
    return f": {str(text)[:200]}" if text else ""


def _cause(e: Exception) -> str:
    inner = e.__cause__ or e.__context__
    return (str(inner).splitlines()[0][:120] if inner and str(inner) else type(e).__name__)
