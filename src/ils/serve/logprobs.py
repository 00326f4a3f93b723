"""``echo`` and ``logprobs`` of /v1/completions: the prompt's own token log-probs and the chosen tokens'.

This is what lm-evaluation-harness and ILS's ``openai:`` engine use to score answer options against a
server (the option's tokens summed, found by their text offsets), so evaluation can be spread over a
fleet of servers. Top-k alternatives are not computed (``top_logprobs`` is null).
"""

from __future__ import annotations

import itertools
from typing import Any

from ils.infer.protocol import Completion


def choice_logprobs(encoder: Any, prompt: str, prompt_lps: list[float] | None, done: Completion) -> dict:
    """OpenAI's legacy ``logprobs`` object for one choice; with ``prompt_lps`` the prompt comes first."""
    tokens, offsets, values = [], [], []
    if prompt_lps is not None:
        enc = encoder(prompt, add_special_tokens=False, return_offsets_mapping=True)
        tokens += [prompt[a:b] for a, b in enc["offset_mapping"]]
        offsets += [a for a, _ in enc["offset_mapping"]]
        values += [None, *prompt_lps][: len(tokens)]
    base = len(prompt) if prompt_lps is not None else 0
    pieces = [encoder.decode([t], skip_special_tokens=True) for t in done.token_ids]
    tokens += pieces
    offsets += [base + o for o in itertools.accumulate([0] + [len(p) for p in pieces[:-1]])] if pieces else []
    values += list(done.token_logprobs or [])
    return {"tokens": tokens, "token_logprobs": values, "top_logprobs": None, "text_offset": offsets}
