"""SQuAD exact match and token F1, with the official v1.1 script's normalisation, max over gold answers.

A reference is one answer text, a list of them, ``{"text": [...]}`` (the SQuAD layout), or the ``qa``
task's answer ``{"text", "start", "texts"}`` (every reference text counts); a prediction is a text
(``None``, unparseable, scores 0).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from typing import Any

from ils.evaluate.metrics import METRICS, headline

_PUNCT = set(string.punctuation)


def normalize_answer(s: str) -> str:
    """Lower case, drop punctuation, the articles a/an/the, and extra whitespace (as the official script)."""
    s = "".join(ch for ch in s.lower() if ch not in _PUNCT)
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def token_f1(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def gold_texts(reference: Any) -> list[str]:
    if isinstance(reference, dict):
        reference = reference.get("texts") or reference.get("text", reference.get("answers", []))
    return [reference] if isinstance(reference, str) else [str(r) for r in reference]


def _one(prediction: Any, reference: Any) -> tuple[float, float]:
    golds = gold_texts(reference)
    if prediction is None or not golds:
        return 0.0, 0.0
    em = max(float(normalize_answer(prediction) == normalize_answer(g)) for g in golds)
    return em, max(token_f1(prediction, g) for g in golds)


@METRICS.register("squad")
def squad(predictions: Sequence[Any], references: Sequence[Any]) -> dict:
    """SQuAD exact match and token F1 (the official v1.1 normalisation); score = F1. Several reference
    answers: the best-matching one counts, per record."""
    scores = [_one(p, r) for p, r in zip(predictions, references, strict=True)]
    n = len(scores) or 1
    em, f1 = sum(s[0] for s in scores) / n, sum(s[1] for s in scores) / n
    return headline("squad", f1, exact_match=em, f1=f1)
