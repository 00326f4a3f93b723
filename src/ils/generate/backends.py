"""Where generated text comes from: the local batched ``Engine`` or any OpenAI-compatible endpoint.

A backend turns a list of prompt texts into a list of completions, in order; a prompt that could
not be answered comes back as ``Failed(reason)`` so the loop records a drop instead of losing the
round. The local backend sends all prompts to ``Engine.complete`` at once (many prompts per
forward pass). The endpoint backend uses the official ``openai`` client from a thread pool
(``concurrency`` requests in flight), retries connection errors, 429s, 5xx and unreadable answers
with exponential back-off, and stops at a request budget. The key comes from an environment
variable; a missing key is an error before any request is made.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

from ils.errors import ConfigError, ILSError


class GenerationError(ILSError):
    """The backend cannot answer at all (unreachable endpoint, rejected key)."""


@dataclass(frozen=True)
class Failed:
    reason: str


@dataclass(frozen=True)
class Params:
    max_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 0.95
    seed: int = 0




class Backend(Protocol):
    name: str
    exhausted: bool

    def generate(self, prompts: Sequence[str], params: Params) -> list[str | Failed]: ...


class EngineBackend:
    """The local model; ``chat`` wraps each prompt as a user turn, else it is continued as raw text."""

    def __init__(self, engine: Any, chat: bool = False, name: str = "local"):
        self.engine, self.chat, self.name, self.exhausted = engine, chat, name, False

    @classmethod
    def load(cls, ref: str, batch_size: int = 16, chat: bool = False) -> "EngineBackend":
        from ils.infer.engine import Engine

        return cls(Engine.load(ref, batch_size), chat, ref)

    def generate(self, prompts: Sequence[str], params: Params) -> list[str | Failed]:
        from ils.infer.engine import Sampling

        s = Sampling(params.max_tokens, params.temperature, params.top_p, params.seed)
        if self.chat:
            return list(self.engine.chat([[{"role": "user", "content": p}] for p in prompts], s))
        return list(self.engine.complete(list(prompts), s))


class OpenAIBackend:
    """An OpenAI-compatible endpoint through the official client (chat or completions API)."""

    def __init__(self, base_url: str, model: str = "default", key_env: str = "OPENAI_API_KEY",
                 concurrency: int = 4, retries: int = 3, backoff: float = 1.0, budget: int | None = None,
                 api: str = "chat", timeout: float = 60.0, sleep: Callable[[float], None] = time.sleep):
        import openai

        key = os.environ.get(key_env)
        if not key:
            raise ConfigError(f"--api-key-env: environment variable {key_env} is not set; export it with the "
                              f"key for {base_url} (any non-empty value for a server without auth)")
        if api not in ("chat", "completions"):
            raise ConfigError(f"--api: unknown API {api!r}; known: chat, completions")
        self.client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=timeout)
        self.name, self.model, self.api, self.url = f"openai:{base_url}", model, api, base_url
        self.concurrency, self.retries, self.backoff, self.sleep = concurrency, retries, backoff, sleep
        self.budget, self.requests, self.exhausted = budget, 0, False

    def generate(self, prompts: Sequence[str], params: Params) -> list[str | Failed]:
        with ThreadPoolExecutor(max(1, self.concurrency)) as pool:
            return list(pool.map(lambda p: self._one(p, params), prompts))

    def _take(self) -> bool:
        """Count one request against the budget (the GIL makes this increment safe enough)."""
        if self.budget is not None and self.requests >= self.budget:
            self.exhausted = True
            return False
        self.requests += 1
        return True

    def _one(self, prompt: str, params: Params) -> str | Failed:
        import openai

        last = "no request made"
        for attempt in range(self.retries + 1):
            if not self._take():
                return Failed("request budget exhausted")
            try:
                return self._call(prompt, params)
            except openai.AuthenticationError as e:
                raise GenerationError(f"{self.url}: the endpoint rejected the key ({e.status_code})") from None
            except openai.APIStatusError as e:
                last = f"HTTP {e.status_code}"
                if e.status_code < 500 and e.status_code not in (408, 409, 429):
                    return Failed(f"endpoint error: {last}")
            except (openai.APIError, ValueError, TypeError, AttributeError, IndexError) as e:
                last = _short(e)
            if attempt < self.retries:
                self.sleep(self.backoff * 2 ** attempt)
        return Failed(f"endpoint failed after {self.retries + 1} attempts: {last}")

    def _call(self, prompt: str, params: Params) -> str:
        kw = dict(model=self.model, max_tokens=params.max_tokens, temperature=params.temperature,
                  top_p=params.top_p, seed=params.seed)
        if self.api == "chat":
            r = self.client.chat.completions.create(messages=[{"role": "user", "content": prompt}], **kw)
            text = r.choices[0].message.content
        else:
            r = self.client.completions.create(prompt=prompt, **kw)
            text = r.choices[0].text
        if not isinstance(text, str):
            raise ValueError("answer has no text")
        return text


def _short(e: Exception) -> str:
    msg = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {msg[:120]}"


def make_backend(spec: str, batch_size: int = 16, **openai_kw: Any) -> Backend:
    """``openai:URL`` → endpoint backend; anything else is a model name or run folder for the engine."""
    if spec.startswith("openai:"):
        url = spec.removeprefix("openai:")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"--model: {spec!r}: expected openai:http(s)://HOST[:PORT]/v1")
        return OpenAIBackend(url, **openai_kw)
    return EngineBackend.load(spec, batch_size)
