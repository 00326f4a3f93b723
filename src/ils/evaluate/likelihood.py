"""Score a closed answer set by likelihood: log P(option | prompt) for each option, batched.

The way lm-evaluation-harness scores multiple choice: the prompt and each option are tokenized
separately and concatenated, one forward pass gives the log-probability of every option token, and
the option with the highest sum wins. No text is generated, so nothing is unparseable; a small model
that cannot keep to the answer format still shows what it knows (SmolLM2-135M on SST-2 dev: 0.495
by parsing generated text, 0.740 by likelihood), and a tuned model has to beat that.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

Pair = tuple[list[int], int]  # (context + continuation ids, length of the continuation)


def encode_pairs(tok: Any, prompts: Sequence[str], options: Sequence[Sequence[str]]) -> list[Pair]:
    """One (ids, n_option_tokens) per prompt × option, prompt-major order."""
    pairs = []
    for prompt, opts in zip(prompts, options, strict=True):
        ctx = tok(prompt, add_special_tokens=False).input_ids
        for opt in opts:
            cont = tok(opt, add_special_tokens=False).input_ids
            pairs.append((ctx + cont, len(cont)))
    return pairs


@torch.no_grad()
def _batch_logprobs(model: Any, batch: list[Pair], pad: int) -> list[float]:
    width = max(len(ids) for ids, _ in batch) - 1
    inputs = torch.tensor([ids[:-1] + [pad] * (width - len(ids) + 1) for ids, _ in batch])
    mask = torch.tensor([[1] * (len(ids) - 1) + [0] * (width - len(ids) + 1) for ids, _ in batch])
    logprobs = torch.log_softmax(model(input_ids=inputs, attention_mask=mask).logits.float(), dim=-1)
    out = []
    for row, (ids, n) in enumerate(batch):
        start = len(ids) - 1 - n  # position predicting the first option token
        targets = torch.tensor(ids[-n:])
        out.append(float(logprobs[row, start:start + n].gather(1, targets[:, None]).sum()))
    return out


def pair_logprobs(model: Any, tok: Any, pairs: list[Pair], batch_size: int = 16) -> list[float]:
    """Sum of log-probabilities of each pair's continuation; batches sorted by length (right padding)."""
    order = sorted(range(len(pairs)), key=lambda i: -len(pairs[i][0]))
    out = [0.0] * len(pairs)
    for i in range(0, len(order), batch_size):
        idx = order[i:i + batch_size]
        for j, lp in zip(idx, _batch_logprobs(model, [pairs[j] for j in idx], tok.pad_token_id)):
            out[j] = lp
    return out


def option_logprobs(model: Any, tok: Any, prompts: Sequence[str], options: Sequence[Sequence[str]],
                    batch_size: int = 16) -> list[list[float]]:
    """For each prompt, the summed log-probability of each of its options."""
    flat = iter(pair_logprobs(model, tok, encode_pairs(tok, prompts, options), batch_size))
    return [[next(flat) for _ in opts] for opts in options]


def choose(scores: Sequence[float]) -> int:
    return max(range(len(scores)), key=lambda i: scores[i])
