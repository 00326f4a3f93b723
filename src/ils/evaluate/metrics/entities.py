"""Entity-level precision, recall and F1 (seqeval, CoNLL style): a span counts only if type and extent match.

An answer is a list of spans, in one of two forms (all spans of one answer in the same form):
- ``[type, start, end]``: token offsets into the input, ``end`` exclusive (``["PER", 0, 2]``);
- ``[type, text]``: the entity's surface text (``["PER", "John Smith"]``), for generated answers that
  name entities without offsets. The same text twice counts twice (a multiset).
A span may also be the ``ner`` task's dict, ``{"type", "text"[, "start", "end"]}``: offsets are used when
every span of the pair has them, else the text (a parsed answer has no offsets; the gold one does).

Both forms are turned into BIO tag sequences that seqeval scores, so the numbers are seqeval's own.
``None`` (unparseable) counts as "no entities found". Offset spans must not overlap.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from ils.evaluate.metrics import METRICS, headline


def _spans(answer: Any, offsets: bool) -> list[tuple]:
    if answer is None:
        return []
    return [_span(s, offsets) for s in answer]


def _span(s: Any, offsets: bool) -> tuple:
    if not isinstance(s, dict):
        return tuple(s)
    return (s["type"], s["start"], s["end"]) if offsets else (s["type"], s["text"])


def _is_offset(span: tuple) -> bool:
    return len(span) == 3 and isinstance(span[1], int) and isinstance(span[2], int)


def _has_offsets(s: Any) -> bool:
    return "start" in s and "end" in s if isinstance(s, dict) else _is_offset(tuple(s))


def _bio(spans: list[tuple], length: int) -> list[str]:
    tags = ["O"] * length
    for kind, start, end in spans:
        for i in range(start, end):
            tags[i] = ("B-" if i == start else "I-") + str(kind)
    return tags


def _offset_pair(pred: list[tuple], gold: list[tuple]) -> tuple[list[str], list[str]]:
    length = max([e for _, _, e in pred + gold], default=0)
    return _bio(pred, length), _bio(gold, length)


def _text_pair(pred: list[tuple], gold: list[tuple]) -> tuple[list[str], list[str]]:
    """Each distinct (type, text, occurrence) gets its own one-token slot: present → B-type, else O."""
    keys = lambda spans: Counter((str(t), str(x).strip()) for t, x in spans)
    p, g = keys(pred), keys(gold)
    slots = sorted({(k, i) for c in (p, g) for k, n in c.items() for i in range(n)})
    tag = lambda c, k, i: f"B-{k[0]}" if i < c[k] else "O"
    return [tag(p, k, i) for k, i in slots], [tag(g, k, i) for k, i in slots]


def to_bio(pred: Any, gold: Any) -> tuple[list[str], list[str]]:
    offsets = all(_has_offsets(s) for s in [*(pred or []), *(gold or [])])
    p, g = _spans(pred, offsets), _spans(gold, offsets)
    if offsets:
        return _offset_pair(p, g)
    if any(_is_offset(s) for s in p + g):
        raise ValueError(f"mixed span forms in one answer: {pred!r} vs {gold!r}")
    return _text_pair(p, g)


@METRICS.register("entity_f1")
def entity_f1(predictions: Sequence[Any], references: Sequence[Any]) -> dict:
    """Entity-level micro F1 (seqeval, CoNLL style: type and extent must match), with precision, recall
    and a per-type breakdown; an unparseable answer counts as no entities found."""
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

    pairs = [to_bio(p, r) for p, r in zip(predictions, references, strict=True)]
    y_pred, y_true = [p for p, _ in pairs], [g for _, g in pairs]
    kw = {"zero_division": 0}
    f1 = float(f1_score(y_true, y_pred, **kw)) if y_true else 0.0
    per_type = classification_report(y_true, y_pred, output_dict=True, **kw) if y_true else {}
    types = {
        k: {m: float(v[m]) for m in ("precision", "recall", "f1-score", "support")}
        for k, v in per_type.items()
        if "avg" not in k
    }
    return headline(
        "entity_f1",
        f1,
        precision=float(precision_score(y_true, y_pred, **kw)) if y_true else 0.0,
        recall=float(recall_score(y_true, y_pred, **kw)) if y_true else 0.0,
        per_type=types,
    )
