"""Corpus BLEU and chrF (sacrebleu, its default 13a tokenisation), for translation-like tasks.

A reference is a text or a list of texts; every example must then give the same number of them
(sacrebleu's reference streams). ``score`` is BLEU / 100.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ils.evaluate.metrics import METRICS, headline


def _streams(references: Sequence[Any]) -> list[list[str]]:
    refs = [[r] if isinstance(r, str) else list(r) for r in references]
    width = {len(r) for r in refs}
    if len(width) > 1:
        raise ValueError(f"every example needs the same number of references, got {sorted(width)}")
    return [list(stream) for stream in zip(*refs)] if refs else [[]]


@METRICS.register("bleu")
def bleu(predictions: Sequence[Any], references: Sequence[Any]) -> dict:
    from sacrebleu.metrics import BLEU, CHRF

    hyps = [p or "" for p in predictions]
    streams = _streams(references)
    scorer_b, scorer_c = BLEU(), CHRF()
    b, c = scorer_b.corpus_score(hyps, streams), scorer_c.corpus_score(hyps, streams)
    return headline(
        "bleu", b.score / 100, bleu_score=b.score, chrf=c.score, signature=str(scorer_b.get_signature())
    )
