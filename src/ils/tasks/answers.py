"""Reading a model's free text as a task's answer, or saying it cannot be read (``None``).

``None`` is *unparseable*: the evaluator counts it and scores it as wrong. A parser that turns every
sentence into some answer hides what a model does wrong (a zero-shot model that explains instead of
answering looks merely inaccurate); one that refuses plain answers punishes format. The rules here sit
between the two, and ``tests/tasks/test_parsers.py`` holds, for every built-in task, sentences that
must parse and sentences that must not.

A closed label set (classification, NLI) is read as follows:
1. the whole answer is a label (any case, quotes, markdown emphasis, a trailing period): that label;
2. the first sentence is short (``SHORT`` words or fewer), is no hedge ("To determine whether …"),
   and names exactly one label, not negated ("not a contradiction" names none): that label;
3. anywhere, labels right after a cue ("the answer is", "Answer:", "therefore"): if they agree, that label;
4. else unparseable.
A label is found by its own words or by a task's word forms (``contradicts`` → contradiction).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

SHORT = 12  # words in a first sentence that is an answer, not an explanation
_HEDGE = re.compile(r"\b(whether|determine|decide|let'?s|let me|need to|first,|step by step)\b", re.I)
_NEGATION = re.compile(r"\b(not|no|never|neither|nor|isn't|isn’t|aren't|doesn't|cannot|can't)"
                       r"\s+(?:\w+\s+){0,2}$", re.I)
_CUE = (r"(?:answer|label|sentiment|relation(?:ship)?|category|class|verdict|prediction|classification)"
        r"\s*(?:is|would be|=|:)|\b(?:therefore|thus|hence|so)\b,?(?:\s+(?:it is|it's|the answer is))?")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n")


def has_content(text: str | None) -> bool:
    """Does the text hold a letter or a digit (not only whitespace, punctuation or markup)?"""
    return bool(text) and any(ch.isalnum() for ch in text)


def clean_text(text: str) -> str:
    """Whitespace, surrounding quotes and markdown emphasis, and one trailing period removed."""
    s = text.strip().strip("*_`\"'").strip()
    return s[:-1].rstrip() if s.endswith(".") and not s.endswith("..") else s


def match_label(text: str, labels: Sequence[str] | None,
                forms: Mapping[str, Sequence[str]] | None = None) -> str | None:
    """The label a free-text answer gives (rules in the module docstring), or None."""
    clean = clean_text(text)
    if not labels:
        return clean if has_content(clean) else None
    words = _label_words(labels, forms or {})
    exact = words.get(clean.lower())
    if exact is not None:
        return exact
    first = _SENTENCE_END.split(clean, maxsplit=1)[0]
    if len(first.split()) <= SHORT and not _HEDGE.search(first):
        named = _named(first, words)
        if len(named) == 1:
            return named[0]
    cued = _cued(clean, words)
    return cued[0] if len(cued) == 1 else None


def _label_words(labels: Sequence[str], forms: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """lower-case word or word form → its label."""
    out = {lab.lower(): lab for lab in labels}
    for lab, alts in forms.items():
        out.update({a.lower(): lab for a in alts if lab in labels})
    return out


def _pattern(words: Mapping[str, str]) -> str:
    alts = sorted(words, key=len, reverse=True)  # "contradictory" before "contradict"
    return "|".join(re.escape(w) for w in alts)


def _named(text: str, words: Mapping[str, str]) -> list[str]:
    """Distinct labels the text names, in order, leaving out negated mentions."""
    found: list[str] = []
    for m in re.finditer(rf"(?<![\w-])({_pattern(words)})(?![\w-])", text, re.I):
        label = words[m.group(1).lower()]
        if not _NEGATION.search(text[:m.start()]) and label not in found:
            found.append(label)
    return found


def _cued(text: str, words: Mapping[str, str]) -> list[str]:
    """Distinct labels that follow a cue such as "the answer is"."""
    pat = rf"(?:{_CUE})\s*[\"'*:]*\s*(?:(?:an?|the)\s+)?({_pattern(words)})(?![\w-])"
    found: list[str] = []
    for m in re.finditer(pat, text, re.I):
        label = words[m.group(1).lower()]
        if label not in found:
            found.append(label)
    return found
