"""Fallback engine: Hugging Face ``generate`` on static, length-sorted batches.

Used only for models the row engine cannot run (prompt- and prefix-tuned adapters add virtual tokens,
some architectures scale logits or use sliding windows): correct everywhere, several times slower
under load, since a batch waits for its longest member. Stop strings are cut after generation.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch

from ils.infer.protocol import Completion, Engine, Prompt, Sampling, is_chat, per_prompt
from ils.models.chat import render_prompt


class StaticEngine(Engine):
    name = "hf-static"

    def __init__(self, model: Any, tok: Any, batch_size: int = 16, identity: str = "", why: str = ""):
        self.model, self.tok, self.batch_size = model.eval(), tok, batch_size
        self.identity, self.why = identity, why
        self.context = int(getattr(model.config, "max_position_embeddings", 0) or 2048)

    def generate(self, prompts: Sequence[Prompt], sampling: Any = None, *, adapter: str | None = None,
                 on_text: Any = None, progress: bool = False) -> list[Completion]:
        settings = per_prompt(sampling, len(prompts))
        ids = [self.encode(p) for p in prompts]
        order = sorted(range(len(ids)), key=lambda i: (repr(settings[i]), -len(ids[i])))
        out: list[Completion] = [Completion("")] * len(ids)
        for batch in _same_settings(order, settings, self.batch_size):
            for i, done in zip(batch, self._generate([ids[i] for i in batch], settings[batch[0]])):
                out[i] = done
        if on_text is not None:
            for i, c in enumerate(out):
                on_text(i, c.text)
        return out

    def score(self, prompts: Sequence[Prompt], options: Sequence[Sequence[str]], *,
              adapter: str | None = None) -> list[list[float]]:
        from ils.evaluate.likelihood import option_logprobs

        texts = [self._text(p) for p in prompts]
        return option_logprobs(self.model, self.tok, texts, options, self.batch_size)

    def count_tokens(self, prompt: Prompt) -> int:
        return len(self.encode(prompt))

    def encode(self, prompt: Prompt) -> list[int]:
        return self.tok(self._text(prompt), add_special_tokens=False).input_ids

    def _text(self, prompt: Prompt) -> str:
        return render_prompt(self.tok, prompt) if is_chat(prompt) else prompt

    @torch.no_grad()
    def _generate(self, batch: list[list[int]], s: Sampling) -> list[Completion]:
        width, pad = max(len(x) for x in batch), self.tok.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(x)) + x for x in batch])
        mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in batch])
        torch.manual_seed(s.seed)
        kwargs = {"do_sample": True, "temperature": s.temperature, "top_p": s.top_p} if s.temperature > 0 \
            else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        gen = self.model.generate(input_ids=input_ids, attention_mask=mask, max_new_tokens=s.max_new_tokens,
                                  pad_token_id=pad, eos_token_id=self.tok.eos_token_id, **kwargs)
        return [self._completion(row[width:].tolist(), len(x), s) for row, x in zip(gen, batch)]

    def _completion(self, new: list[int], prompt_len: int, s: Sampling) -> Completion:
        eos = self.tok.eos_token_id
        ended = eos in new
        new = new[: new.index(eos) + 1] if ended else new
        text = self.tok.decode(new, skip_special_tokens=True)
        cut = _cut(text, s.stop)
        reason = "stop" if ended or cut != text else "length"
        return Completion(cut, reason, prompt_len, len(new), new)


def _cut(text: str, stops: Sequence[str]) -> str:
    for stop in stops:
        if stop and stop in text:
            text = text[: text.index(stop)]
    return text


def _same_settings(order: list[int], settings: list[Sampling], size: int) -> Iterator[list[int]]:
    batch: list[int] = []
    for i in order:
        if batch and (len(batch) == size or settings[i] != settings[batch[0]]):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch
