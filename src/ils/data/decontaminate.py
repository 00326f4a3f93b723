"""Decontamination: drop training records that share a word n-gram with an evaluation input.

As in GPT-3's and FLAN's filters, overlap is counted on word n-grams (default 8) of the input
text; an evaluation text shorter than n words matches only a training text equal to it, since a
two-word phrase inside a longer sentence says little about leakage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from ils.data.rouge import tokens


@dataclass
class EvalIndex:
    n: int
    grams: set[tuple[str, ...]] = field(default_factory=set)
    short: set[tuple[str, ...]] = field(default_factory=set)

    def add(self, text: str) -> None:
        toks = tokens(text)
        if len(toks) < self.n:
            self.short.add(tuple(toks))
        else:
            self.grams.update(ngrams(toks, self.n))

    def match(self, text: str) -> str | None:
        """The first shared n-gram (or the equal short text), else None."""
        toks = tokens(text)
        if len(toks) < self.n:
            return " ".join(toks) if tuple(toks) in self.short else None
        return next((" ".join(g) for g in ngrams(toks, self.n) if g in self.grams), None)


def ngrams(toks: list[str], n: int) -> Iterable[tuple[str, ...]]:
    return (tuple(toks[i:i + n]) for i in range(len(toks) - n + 1))


def build_index(texts: Iterable[str], n: int) -> EvalIndex:
    index = EvalIndex(n)
    for t in texts:
        index.add(t)
    return index
