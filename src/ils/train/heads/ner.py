"""Token classification head (NER): one tag per word, learned on the first sub-token of each word.

Labels sit on each word's first sub-token; the other sub-tokens get -100 (not trained). Predictions
are read back from first sub-tokens, one per word, and scored at the entity level with seqeval
(precision/recall/F1 over whole spans) -- never token accuracy, which the many "O" tags inflate.
Reads CoNLL columns (token first, tag last, blank line between sentences) or JSONL {tokens, tags}.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ils.errors import RecordError
from ils.io import json_lines, text_lines
from ils.train.heads import HEADS, Head, ce_sum, check_labels, collate_items


def read_conll(path: Path) -> list[tuple[list[str], list[str]]]:
    if not path.is_file():
        raise RecordError(str(path), None, "file", "not found")
    out = [_tagged(r, str(path), n) for n, r in json_lines(path)] if path.suffix in (".jsonl", ".json") \
        else _columns(path)
    if not out:
        raise RecordError(str(path), None, "file", "no sentences in it (an empty file)")
    return out


def _tagged(row: Any, file: str, line: int) -> tuple[list[str], list[str]]:
    tokens, tags = (row.get("tokens"), row.get("tags")) if isinstance(row, dict) else (None, None)
    if not isinstance(tokens, list) or not isinstance(tags, list) or len(tokens) != len(tags):
        raise RecordError(file, line, "tags", "expected {tokens: [...], tags: [...]} of the same length")
    return [str(t) for t in tokens], [str(t) for t in tags]


def _columns(path: Path) -> list[tuple[list[str], list[str]]]:
    out, words, tags = [], [], []
    for _, line in text_lines(path):
        parts = line.split()
        if not parts or parts[0] == "-DOCSTART-":
            if words:
                out.append((words, tags))
            words, tags = [], []
            continue
        words.append(parts[0])
        tags.append(parts[-1])
    if words:
        out.append((words, tags))
    return out


def _types(enc: Any, i: int, word_ids: list[int | None], words: list[str], cased: bool) -> list[int]:
    """Token types: the tokenizer's, or with ``case_types`` 1 on every sub-token of a word that starts
    with a capital. An uncased tokenizer lowercases "Apple" and "apple" alike, yet capitals are NER's
    strongest cue; the segment embedding, unused in single-sentence tagging, carries it back in."""
    if not cased:
        return enc["token_type_ids"][i] if "token_type_ids" in enc else [0] * len(enc["input_ids"][i])
    return [int(w is not None and words[w][:1].isupper()) for w in word_ids]


@HEADS.register("token-classification")
class TokenClassification(Head):
    task = "token-classification"
    auto_class = "AutoModelForTokenClassification"

    def read(self, path: Path) -> list:
        return read_conll(path)

    def label_names(self, records: list, cfg: Any) -> list[str]:
        found = sorted({t for _, tags in records for t in tags}, key=lambda t: (t != "O", t[2:], t))
        if cfg.head.labels:
            check_labels(found, cfg.head.labels, str(cfg.data))
            return list(cfg.head.labels)
        return found

    def encode(self, records: list, tok: Any, cfg: Any, labels: list[str] | None) -> list:
        check_labels([t for _, tags in records for t in tags], labels, "token-classification data")
        index = {n: i for i, n in enumerate(labels)}
        enc = tok([w for w, _ in records], is_split_into_words=True, truncation=True, max_length=cfg.max_length)
        items = []
        for i, (words, tags) in enumerate(records):
            word_ids, prev, lab = enc.word_ids(i), None, []
            for w in word_ids:
                lab.append(index[tags[w]] if w is not None and w != prev else -100)
                prev = w
            items.append((enc["input_ids"][i], lab, _types(enc, i, word_ids, words, cfg.head.case_types)))
        return items

    def count(self, labels: list[int]) -> int:
        return sum(1 for y in labels if y != -100)

    def loss(self, out: Any, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return ce_sum(out.logits, labels)

    @torch.no_grad()
    def predict(self, model: Any, tok: Any, records: list, cfg: Any, labels: list[str]) -> list[list[str]]:
        """One tag per word; words cut off by max_length are tagged O."""
        items = self.encode(records, tok, cfg, labels)
        preds = []
        for i in range(0, len(items), 64):
            chunk = items[i:i + 64]
            batch = collate_items(chunk, tok.pad_token_id)
            gold = batch.pop("labels")
            if "token_type_ids" not in tok.model_input_names:
                batch.pop("token_type_ids")
            best = model(**batch).logits.argmax(-1)
            preds += [[labels[j] for j in best[r][gold[r] != -100].tolist()] for r in range(len(chunk))]
        return [p + ["O"] * (len(words) - len(p)) for p, (words, _) in zip(preds, records)]

    def score(self, model: Any, tok: Any, records: list, cfg: Any, labels: list[str] | None) -> dict:
        from seqeval.metrics import f1_score, precision_score, recall_score

        preds, gold = self.predict(model, tok, records, cfg, labels), [tags for _, tags in records]
        return {"metric": "entity_f1 (seqeval)", "f1": f1_score(gold, preds),
                "precision": precision_score(gold, preds), "recall": recall_score(gold, preds)}
