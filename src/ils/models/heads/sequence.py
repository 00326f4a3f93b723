"""Sequence head: one label per text (sentiment, topic), from transformers' sequence classification.

Input: ``{"text", "label"}``, or ``{"text", "text_pair", "label"}`` for a task of two texts (NLI):
the pair goes through the tokenizer's own pair encoding (``[CLS] a [SEP] b [SEP]`` with segment ids for
BERT), truncated longest-first to ``max_length``. ``head.pooling: mean`` classifies from the mean token
state instead of [CLS] (see ``ils.models.pooling``). Output: the predicted label.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ils.models.heads import HEADS, Head, HeadSpec, Item, ce_sum, check_labels, label_set, run_batches


def text_items(texts: list[str], targets: list[list[int]], tok: Any, spec: HeadSpec,
               pairs: list[str] | None = None) -> list[Item]:
    enc = tok(texts, pairs, truncation=True, max_length=spec.max_length)
    types = enc.get("token_type_ids") or [[0] * len(x) for x in enc["input_ids"]]
    return [(ids, y, tt) for ids, y, tt in zip(enc["input_ids"], targets, types)]


class SequenceHead(Head):
    name = "sequence"
    auto_class = "AutoModelForSequenceClassification"
    peft_task = "SEQ_CLS"
    options = ("labels", "pooling")
    loss_unit = "text"

    def label_set(self, inputs: list[dict], given: list[str] | None) -> list[str]:
        return label_set([str(x["label"]) for x in inputs], given)

    def encode(self, inputs: list[dict], tok: Any, spec: HeadSpec, train: bool = True) -> list[Item]:
        labels = spec.labels or []
        if train:
            check_labels([str(x["label"]) for x in inputs], labels, "records")
        index = {n: i for i, n in enumerate(labels)}
        targets = [[index[str(x["label"])] if train else 0] for x in inputs]
        pairs = [str(x["text_pair"]) for x in inputs] if inputs and "text_pair" in inputs[0] else None
        return text_items([str(x["text"]) for x in inputs], targets, tok, spec, pairs)

    def loss(self, out: Any, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return ce_sum(out.logits, labels[:, 0])

    def predict(self, model: Any, tok: Any, inputs: list[dict], spec: HeadSpec) -> list[str]:
        items = self.encode(inputs, tok, spec, train=False)
        return [spec.labels[j] for _, out in run_batches(self, model, tok, items)
                for j in out.logits.argmax(-1).tolist()]

    def build(self, folder: Path, spec: HeadSpec, dtype: Any = None) -> Any:
        from ils.models.pooling import use_pooling

        return use_pooling(super().build(folder, spec, dtype), spec.options.pooling)


HEADS.add(SequenceHead())
