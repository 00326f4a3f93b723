"""ROUGE-1/2/L F-measure (Google's rouge-score, with its Porter stemmer), averaged over examples.

A reference is a text or a list of texts (the best-scoring one counts, rouge-score's ``score_multi``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ils.evaluate.metrics import METRICS, headline

TYPES = ("rouge1", "rouge2", "rougeL")


@METRICS.register("rouge")
def rouge(predictions: Sequence[Any], references: Sequence[Any]) -> dict:
    """ROUGE-1/2/L F-measure (rouge-score, Porter-stemmed), averaged over records; score = ROUGE-L.
    Several references per record: the best-scoring one counts (rouge-score's ``score_multi``)."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(list(TYPES), use_stemmer=True)
    totals = dict.fromkeys(TYPES, 0.0)
    for pred, ref in zip(predictions, references, strict=True):
        refs = [ref] if isinstance(ref, str) else list(ref)
        scores = scorer.score_multi(refs, pred or "")
        for t in TYPES:
            totals[t] += scores[t].fmeasure
    n = len(references) or 1
    means = {t: v / n for t, v in totals.items()}
    return headline("rouge", means["rougeL"], **means)
