"""What every inference engine gives, whatever runs it: this process, llama.cpp, or a server.

An engine turns prompts into completions and, where it can see log-probabilities, scores answer
options. A prompt is either a conversation (a list of ``{"role", "content"}`` messages; the engine
applies the model's chat template) or a raw text that is already templated. Evaluation,
self-instruct, long-input plans, chat and the server call only these methods, so ``--engine``
swaps the backend under every command (see ``ils.infer.engines`` for the registry).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Union

from ils.errors import ILSError

Chat = Sequence[dict]
Prompt = Union[str, Chat]
FINISH_REASONS = ("stop", "length", "abort", "error")


class EngineError(ILSError):
    """The engine cannot do what was asked (no log-probs, unreachable server, unknown model)."""


@dataclass(frozen=True)
class Sampling:
    """Per-request decoding settings; requests with different settings still share a batch."""

    max_new_tokens: int = 64
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = ()
    ignore_eos: bool = False  # run to max_new_tokens (benchmarks compare servers on equal work)
    logprobs: bool = False  # keep each chosen token's log-probability (Completion.token_logprobs)


@dataclass
class Completion:
    """One finished answer: its text (stop string excluded), why it ended, and token counts."""

    text: str
    finish_reason: str = "stop"  # stop (EOS or a stop string) | length (max_new_tokens) | abort | error
    prompt_tokens: int = 0
    completion_tokens: int = 0
    token_ids: list[int] = field(default_factory=list)
    error: str | None = None
    token_logprobs: list[float] | None = None  # when Sampling.logprobs asked for them


# Called with (request index, text delta) as tokens arrive; the last call for a request has delta "".
OnText = Callable[[int, str], None]


class Engine(ABC):
    """The protocol. Backends implement ``generate`` (and ``score`` when they can); the rest is shared."""

    name: str = "engine"
    context: int = 2048  # the model's context in tokens (prompt + answer)

    @abstractmethod
    def generate(self, prompts: Sequence[Prompt], sampling: Sampling | Sequence[Sampling] | None = None, *,
                 adapter: str | None = None, on_text: OnText | None = None,
                 progress: bool = False) -> list[Completion]:
        """Complete every prompt (in input order); ``sampling`` is one setting or one per prompt."""

    def score(self, prompts: Sequence[Prompt], options: Sequence[Sequence[str]], *,
              adapter: str | None = None) -> list[list[float]]:
        """log P(option | prompt) summed over the option's tokens, for each prompt's options."""
        raise EngineError(f"engine '{self.name}' cannot score options: it exposes no log-probabilities; "
                          "use --engine hf (or a server that returns prompt log-probs)")

    def generate_scored(self, prompts: Sequence[Prompt], sampling: Sampling | None,
                        options: Sequence[Sequence[str]], *, adapter: str | None = None,
                        progress: bool = False) -> tuple[list[Completion], list[list[float]] | None]:
        """Generate and score each prompt's options (evaluation wants both); scores None where the
        engine has no log-probs. Backends that can read the prompt once for both override this."""
        done = self.generate(prompts, sampling, adapter=adapter, progress=progress)
        scored = [i for i, opts in enumerate(options) if opts]
        try:
            values = iter(self.score([prompts[i] for i in scored], [options[i] for i in scored], adapter=adapter))
        except EngineError:
            return done, None
        return done, [next(values) if opts else [] for opts in options]

    def count_tokens(self, prompt: Prompt) -> int:
        """Tokens the prompt takes in the model's context (chat template included)."""
        raise EngineError(f"engine '{self.name}' cannot count tokens")

    def close(self) -> None:
        """Free what the engine holds (threads, connections, model memory)."""

    def stats(self) -> dict:
        """Counters worth reporting (steps, prefix-cache hit rate, ...); empty where there are none."""
        return {}

    @classmethod
    def load(cls, model: str, batch_size: int = 64, dtype: str = "auto", engine: str = "hf",
             **options: object) -> "Engine":
        """The engine ``engine`` (see ils.infer.engines) serving ``model``."""
        from ils.infer.engines import load_engine

        return load_engine(model, engine, batch_size=batch_size, dtype=dtype, **options)

    # Shared conveniences: what most callers want.
    def chat(self, chats: Sequence[Chat], sampling: Sampling | None = None, progress: bool = False) -> list[str]:
        """The next assistant turn for each conversation."""
        return [c.text for c in self.generate(list(chats), sampling, progress=progress)]

    def complete(self, prompts: Sequence[str], sampling: Sampling | None = None,
                 progress: bool = False) -> list[str]:
        """Continue raw (already templated) prompt texts."""
        return [c.text for c in self.generate(list(prompts), sampling, progress=progress)]

    def stream(self, prompt: Prompt, sampling: Sampling | None = None, *,
               adapter: str | None = None) -> Iterator[str]:
        """Text pieces of one answer as they come (backends without streaming yield it whole)."""
        yield self.generate([prompt], sampling, adapter=adapter)[0].text

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def per_prompt(sampling: Sampling | Sequence[Sampling] | None, n: int) -> list[Sampling]:
    """One Sampling per prompt, whichever way the caller gave them."""
    if sampling is None or isinstance(sampling, Sampling):
        return [sampling or Sampling()] * n
    if len(sampling) != n:
        raise EngineError(f"{len(sampling)} sampling settings for {n} prompts")
    return list(sampling)


def is_chat(prompt: Prompt) -> bool:
    return not isinstance(prompt, str)
