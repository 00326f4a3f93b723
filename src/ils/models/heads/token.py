"""Token head: one tag per word (NER), learned on the first sub-token of each word.

Input: ``{"words", "tags"}``. Tags sit on each word's first sub-token; the other sub-tokens get -100
(not trained). Output: one tag per word, read back from first sub-tokens; words cut off by
``max_length`` are tagged O. Scoring is the task's (seqeval entity F1 for NER), not this file's.
"""

from __future__ import annotations

from typing import Any

import torch

from ils.errors import ConfigError
from ils.models.heads import HEADS, Head, HeadSpec, Item, ce_sum, check_labels, label_set, run_batches


def _types(enc: Any, i: int, word_ids: list[int | None], words: list[str], cased: bool) -> list[int]:
    """Token types: the tokenizer's, or with ``case_types`` 1 on every sub-token of a word that starts
    with a capital. An uncased tokenizer lowercases "Apple" and "apple" alike, yet capitals are NER's
    strongest cue; the segment embedding, unused in single-sentence tagging, carries it back in."""
    if not cased:
        return enc["token_type_ids"][i] if "token_type_ids" in enc else [0] * len(enc["input_ids"][i])
    return [int(w is not None and words[w][:1].isupper()) for w in word_ids]


class TokenHead(Head):
    name = "token"
    auto_class = "AutoModelForTokenClassification"
    peft_task = "TOKEN_CLS"
    options = ("labels", "case_types")
    loss_unit = "tagged word"

    def label_set(self, inputs: list[dict], given: list[str] | None) -> list[str]:
        found = [t for x in inputs for t in x["tags"]]
        return label_set(found, given, order=lambda t: (t != "O", t[2:], t))

    def encode(self, inputs: list[dict], tok: Any, spec: HeadSpec, train: bool = True) -> list[Item]:
        if train:
            check_labels([t for x in inputs for t in x["tags"]], spec.labels or [], "records")
        index = {n: i for i, n in enumerate(spec.labels or [])}
        enc = tok([x["words"] for x in inputs], is_split_into_words=True, truncation=True,
                  max_length=spec.max_length)
        items = []
        for i, x in enumerate(inputs):
            word_ids, prev, lab = enc.word_ids(i), None, []
            for w in word_ids:  # first sub-token of each word: its tag (any index when predicting)
                lab.append((index[x["tags"][w]] if train else 0) if w is not None and w != prev else -100)
                prev = w
            types = _types(enc, i, word_ids, x["words"], spec.options.case_types)
            items.append((enc["input_ids"][i], lab, types))
        return items

    def count(self, labels: list[int]) -> int:
        return sum(1 for y in labels if y != -100)

    def loss(self, out: Any, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return ce_sum(out.logits, labels)

    def predict(self, model: Any, tok: Any, inputs: list[dict], spec: HeadSpec) -> list[list[str]]:
        items = self.encode(inputs, tok, spec, train=False)
        preds = []
        for batch, out in run_batches(self, model, tok, items):
            best, firsts = out.logits.argmax(-1), batch["labels"] != -100
            preds += [[spec.labels[j] for j in best[r][firsts[r]].tolist()] for r in range(len(best))]
        return [p + ["O"] * (len(x["words"]) - len(p)) for p, x in zip(preds, inputs)]

    def check(self, model: Any, tok: Any, spec: HeadSpec) -> None:
        types = "token_type_ids" in tok.model_input_names and getattr(model.config, "type_vocab_size", 0) >= 2
        if spec.options.case_types and not types:
            raise ConfigError("head.case_types: this model has no second token type to carry casing")


HEADS.add(TokenHead())
