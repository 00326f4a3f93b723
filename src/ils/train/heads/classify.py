"""Sequence classification head: one label per text (SST-2 sentiment, topic, NLI as a text pair).

Reads GLUE-style TSV (``sentence``/``label`` columns), JSONL ``{"text", "label"}``, or ILS Example
records (text = the last user message, label = ``answer`` or the response). Scored by accuracy.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import torch

from ils.errors import RecordError
from ils.io import json_lines, read_text
from ils.train.heads import HEADS, Head, ce_sum, check_labels, collate_items


def read_records(path: Path) -> list[tuple[str, str, str]]:
    """(text, label, where) triples."""
    if not path.is_file():
        raise RecordError(str(path), None, "file", "not found")
    out = _tsv(path) if path.suffix == ".tsv" else [_from_json(o, str(path), n) for n, o in json_lines(path)]
    if not out:
        raise RecordError(str(path), None, "file", "no records in it (an empty file)")
    return out


def _tsv(path: Path) -> list[tuple[str, str, str]]:
    rows = csv.DictReader(io.StringIO(read_text(path), newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    for col in ("sentence", "label"):
        if col not in (rows.fieldnames or []):
            header = ", ".join(rows.fieldnames or [])
            raise RecordError(str(path), 1, col, f"missing column (the header has: {header})")
    out = []
    for i, r in enumerate(rows):
        if r["sentence"] is None or r["label"] is None:
            raise RecordError(str(path), i + 2, "label" if r["sentence"] else "sentence", "missing")
        out.append((r["sentence"].strip(), str(r["label"]), f"{path}:{i + 2}"))
    return out


def _from_json(obj: Any, file: str, line: int) -> tuple[str, str, str]:
    where = f"{file}:{line}"
    if isinstance(obj, dict) and isinstance(obj.get("text"), str) and obj.get("label") is not None:
        return obj["text"], str(obj["label"]), where
    try:
        text = [m["content"] for m in obj["messages"] if m["role"] == "user"][-1]
        label = obj.get("answer") or obj["messages"][-1]["content"]
    except (KeyError, TypeError, IndexError, AttributeError):
        raise RecordError(file, line, "text", "expected {text, label} or an Example with messages") from None
    return str(text), str(label), where


@HEADS.register("sequence-classification")
class SequenceClassification(Head):
    task = "sequence-classification"
    auto_class = "AutoModelForSequenceClassification"

    def read(self, path: Path) -> list:
        return read_records(path)

    def label_names(self, records: list, cfg: Any) -> list[str]:
        found = sorted({label for _, label, _ in records})
        if cfg.head.labels:
            check_labels(found, cfg.head.labels, str(cfg.data))
            return list(cfg.head.labels)
        return found

    def encode(self, records: list, tok: Any, cfg: Any, labels: list[str] | None) -> list:
        check_labels([lab for _, lab, _ in records], labels, records[0][2].rsplit(":", 1)[0])
        index = {n: i for i, n in enumerate(labels)}
        enc = tok([t for t, _, _ in records], truncation=True, max_length=cfg.max_length)
        types = enc.get("token_type_ids") or [[0] * len(x) for x in enc["input_ids"]]
        return [(ids, [index[lab]], tt) for ids, (_, lab, _), tt in zip(enc["input_ids"], records, types)]

    def loss(self, out: Any, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return ce_sum(out.logits, labels[:, 0])

    @torch.no_grad()
    def predict(self, model: Any, tok: Any, records: list, cfg: Any, labels: list[str]) -> list[str]:
        items = self.encode(records, tok, cfg, labels)
        preds = []
        for i in range(0, len(items), 64):
            batch = collate_items(items[i:i + 64], tok.pad_token_id)
            batch.pop("labels")
            if "token_type_ids" not in tok.model_input_names:
                batch.pop("token_type_ids")
            preds += [labels[j] for j in model(**batch).logits.argmax(-1).tolist()]
        return preds

    def score(self, model: Any, tok: Any, records: list, cfg: Any, labels: list[str] | None) -> dict:
        preds = self.predict(model, tok, records, cfg, labels)
        correct = sum(p == lab for p, (_, lab, _) in zip(preds, records))
        return {"metric": "accuracy", "accuracy": correct / max(len(records), 1)}
