"""Where self-instruct's text comes from: any engine (``ils.infer.engines``) behind a small adapter.

A backend turns a list of prompt texts into a list of completions, in order; a prompt that could
not be answered comes back as ``Failed(reason)`` so the loop records a drop instead of losing the
round. The local engine gets all prompts at once (continuous batching); an OpenAI-compatible
endpoint goes through the ``openai:`` engine (concurrency, round robin, retries with back-off, a
request budget). The key comes from an environment variable; a missing key is an error before any
request is made.
"""

from __future__ import annotations

import os
import time
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
    """Any engine of ``ils.infer.engines``; ``chat`` wraps each prompt as a user turn, else it is
    continued as raw text. An answer the engine could not give comes back as ``Failed``."""

    def __init__(self, engine: Any, chat: bool = False, name: str = "local"):
        self.engine, self.chat, self.name = engine, chat, name

    @property
    def exhausted(self) -> bool:
        return bool(getattr(self.engine, "exhausted", False))

    @property
    def requests(self) -> int:
        return int(getattr(self.engine, "requests", 0))

    @classmethod
    def load(cls, ref: str, batch_size: int = 64, chat: bool = False, engine: str = "hf") -> "EngineBackend":
        from ils.infer.engines import load_engine

        return cls(load_engine(ref, engine, batch_size=batch_size), chat, ref)

    def generate(self, prompts: Sequence[str], params: Params) -> list[str | Failed]:
        from ils.infer.protocol import EngineError, Sampling

        s = Sampling(params.max_tokens, params.temperature, params.top_p, params.seed)
        items = [[{"role": "user", "content": p}] for p in prompts] if self.chat else list(prompts)
        try:
            done = self.engine.generate(items, s)
        except EngineError as e:
            raise GenerationError(str(e)) from None
        return [Failed(c.error or "no answer") if c.finish_reason == "error" else c.text for c in done]


class OpenAIBackend(EngineBackend):
    """An OpenAI-compatible endpoint: the ``openai:`` engine (round robin, retries with back-off, a
    request budget) with failed prompts returned as ``Failed`` so the loop records a drop."""

    def __init__(self, base_url: str, model: str = "default", key_env: str = "OPENAI_API_KEY",
                 concurrency: int = 4, retries: int = 3, backoff: float = 1.0, budget: int | None = None,
                 api: str = "chat", timeout: float = 60.0, sleep: Callable[[float], None] = time.sleep):
        from ils.infer.backends.openai_compat import OpenAIEngine, parse_urls

        key = os.environ.get(key_env)
        if not key:
            raise ConfigError(f"--api-key-env: environment variable {key_env} is not set; export it with the "
                              f"key for {base_url} (any non-empty value for a server without auth)")
        if api not in ("chat", "completions"):
            raise ConfigError(f"--api: unknown API {api!r}; known: chat, completions")
        engine = OpenAIEngine(parse_urls(base_url), model, concurrency=concurrency, retries=retries,
                              backoff=backoff, timeout=timeout, api_key=key, budget=budget, on_error="return",
                              sleep=sleep)
        super().__init__(engine, chat=api == "chat", name=f"openai:{base_url}")
        self.url = base_url


def make_backend(spec: str, batch_size: int = 64, engine: str = "hf", **openai_kw: Any) -> EngineBackend:
    """``openai:URL`` → endpoint backend; anything else is a model for ``engine`` (hf, llamacpp)."""
    if spec.startswith("openai:"):
        url = spec.removeprefix("openai:")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"--model: {spec!r}: expected openai:http(s)://HOST[:PORT]/v1")
        return OpenAIBackend(url, **openai_kw)
    return EngineBackend.load(spec, batch_size, engine=engine)
