"""Corpus BLEU and chrF (sacrebleu, its default 13a tokenisation), for translation-like tasks.

A reference is a text or a list of texts (several references: sacrebleu's reference streams; examples
may have different numbers of them). ``score`` is BLEU / 100.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ils.evaluate.metrics import METRICS, headline


def _streams(references: Sequence[Any]) -> list[list[str | None]]:
    """sacrebleu's reference streams; an example with fewer references is padded with None, which
    sacrebleu skips (every reference of every example counts, corpus-level)."""
    refs = [[r] if isinstance(r, str) else list(r) for r in references]
    width = max((len(r) for r in refs), default=0)
    return [[r[i] if i < len(r) else None for r in refs] for i in range(width)] if refs else [[]]


@METRICS.register("bleu")
def bleu(predictions: Sequence[Any], references: Sequence[Any]) -> dict:
    """Corpus BLEU (sacrebleu, 13a tokenisation; chrF beside it), score = BLEU / 100. Several references
    per record: every one counts, as sacrebleu's reference streams (records may have different numbers)."""
    from sacrebleu.metrics import BLEU, CHRF

    hyps = [p or "" for p in predictions]
    streams = _streams(references)
    scorer_b, scorer_c = BLEU(), CHRF()
    b, c = scorer_b.corpus_score(hyps, streams), scorer_c.corpus_score(hyps, streams)
    return headline(
        "bleu", b.score / 100, bleu_score=b.score, chrf=c.score, signature=str(scorer_b.get_signature())
    )
