"""Span head: the start and end of an answer inside a context (extractive QA), windows and all.

Input: ``{"id", "question", "context", "answers": [{"text", "start"}, ...]}``. Long contexts are cut
into overlapping windows (``head.doc_stride``) with the tokenizer's offset mapping, so every answer
lies wholly inside some window; a window without the answer points at [CLS]. Decoding keeps the
``n_best`` starts and ends per window, drops spans that are reversed, too long or outside the
context, and takes the best start+end score over all windows. Output: the answer text.
"""

from __future__ import annotations

from typing import Any

import torch

from ils.errors import ConfigError
from ils.models.heads import HEADS, Head, HeadSpec, Item, run_batches


def windows(tok: Any, inputs: list[dict], spec: HeadSpec) -> Any:
    return tok([x["question"].lstrip() for x in inputs], [x["context"] for x in inputs],
               truncation="only_second", max_length=spec.max_length, stride=spec.options.doc_stride,
               return_overflowing_tokens=True, return_offsets_mapping=True)


def answer_tokens(enc: Any, i: int, start: int, end: int) -> tuple[int, int]:
    """Token positions of the character span [start, end) in window i, or (0, 0) when outside it."""
    seq, offsets = enc.sequence_ids(i), enc["offset_mapping"][i]
    ctx = [k for k, s in enumerate(seq) if s == 1]
    if not ctx or offsets[ctx[0]][0] > start or offsets[ctx[-1]][1] < end:
        return 0, 0
    s = next(k for k in ctx if offsets[k][1] > start)
    e = next(k for k in reversed(ctx) if offsets[k][0] < end)
    return s, e


def window_spans(enc: Any, i: int, answers: list[dict], all_answers: bool) -> list[tuple[int, int]]:
    """Training targets of window i: the first gold span, or every distinct one; (0, 0) only when
    none of them lies inside the window."""
    golds = answers if all_answers else answers[:1]
    spans = dict.fromkeys(answer_tokens(enc, i, a["start"], a["start"] + len(a["text"])) for a in golds)
    inside = [sp for sp in spans if sp != (0, 0)]
    return inside or [(0, 0)]


def marginal_labels(spans: list[tuple[int, int]]) -> list[int]:
    """Spans as [s1, e1, s2, e2, ...], a start (or end) already listed replaced by -100 so that the
    summed probability counts each position once."""
    seen: tuple[set, set] = (set(), set())
    out = []
    for span in spans:
        for side, pos in enumerate(span):
            out.append(-100 if pos in seen[side] else pos)
            seen[side].add(pos)
    return out


def marginal_nll(logits: torch.Tensor, gold: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum over rows of -log(sum of the probabilities of the row's gold positions; -100 = none), and
    the number of rows. One gold position per row is plain cross-entropy. torch has no loss over a set
    of correct classes, hence this."""
    keep = gold != -100
    logp = logits.float().log_softmax(-1).gather(1, gold.clamp(min=0))
    rows = keep.any(1)
    picked = logp.masked_fill(~keep, float("-inf")).logsumexp(1)
    return -picked[rows].sum(), rows.sum()


class SpanHead(Head):
    name = "span"
    auto_class = "AutoModelForQuestionAnswering"
    peft_task = "QUESTION_ANS"
    options = ("doc_stride", "max_answer_length", "n_best", "all_answers", "answer_loss")
    loss_unit = "context window"

    def encode(self, inputs: list[dict], tok: Any, spec: HeadSpec, train: bool = True) -> list[Item]:
        o = spec.options
        if o.doc_stride >= spec.max_length // 2:
            raise ConfigError(f"head.doc_stride: {o.doc_stride} must be under half of max_length "
                              f"({spec.max_length}) so that windows advance")
        enc, items = windows(tok, inputs, spec), []
        for i, ids in enumerate(enc["input_ids"]):
            types = enc["token_type_ids"][i] if "token_type_ids" in enc else [0] * len(ids)
            if not train:
                items.append((ids, [0], types))
                continue
            answers = inputs[enc["overflow_to_sample_mapping"][i]]["answers"]
            spans = window_spans(enc, i, answers, o.all_answers)
            if o.answer_loss == "marginal":
                items.append((ids, marginal_labels(spans), types))
            else:
                items += [(ids, list(span), types) for span in spans]
        return items

    def loss(self, out: Any, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        start, n = marginal_nll(out.start_logits, labels[:, 0::2])
        end, _ = marginal_nll(out.end_logits, labels[:, 1::2])
        return (start + end) / 2, n

    def predict(self, model: Any, tok: Any, inputs: list[dict], spec: HeadSpec) -> list[str]:
        enc = windows(tok, inputs, spec)
        items = self.encode(inputs, tok, spec, train=False)
        best: dict[int, tuple[float, str]] = {}
        for lo, (_, out) in zip(range(0, len(items), 32), run_batches(self, model, tok, items, 32)):
            for row in range(len(out.start_logits)):
                i = lo + row
                k = enc["overflow_to_sample_mapping"][i]
                cand = _best_span(enc, i, out.start_logits[row], out.end_logits[row], spec,
                                  inputs[k]["context"])
                if cand and (k not in best or cand[0] > best[k][0]):
                    best[k] = cand
        return [best.get(k, (0.0, ""))[1] for k in range(len(inputs))]


def _best_span(enc: Any, i: int, start: torch.Tensor, end: torch.Tensor, spec: HeadSpec,
               context: str) -> tuple[float, str] | None:
    seq, offsets, o = enc.sequence_ids(i), enc["offset_mapping"][i], spec.options
    starts = start.topk(min(o.n_best, len(start))).indices.tolist()
    ends = end.topk(min(o.n_best, len(end))).indices.tolist()
    spans = [(start[s].item() + end[e].item(), s, e) for s in starts for e in ends
             if s < len(seq) and e < len(seq) and seq[s] == 1 and seq[e] == 1
             and s <= e < s + o.max_answer_length]
    if not spans:
        return None
    score, s, e = max(spans)
    return score, context[offsets[s][0]:offsets[e][1]]


HEADS.add(SpanHead())
