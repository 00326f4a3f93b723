"""Parsing partial answers and combining them exactly: lists merged, counts summed, values weighed.

A map step's answer kind decides both how each chunk's output is parsed and how the parts combine.
"Not found" (NONE) parses to ``None`` and is dropped before combining. Only ``text`` answers need a
model to combine (a tree of summarising calls); the rest reduce in code, exactly. Values, labels and
spans are chosen by ``weigh``: each chunk's vote counts as much as the map step itself preferred that
answer to NONE, so one confident chunk outweighs several that half-guessed.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ils.infer.ground import answer_key

KINDS = ("text", "value", "label", "span", "number", "list")
NONE_WORDS = {"none", "not found", "n/a", "no answer", "nothing"}
HINTS = {
    "value": "Answer with the value only, or NONE.",
    "label": "Answer with the label only, or NONE.",
    "span": "Answer with the exact words from the text only, or NONE.",
    "number": "Answer with a whole number only.",
    "list": "Answer with a comma-separated list only, or NONE.",
    "text": "Answer briefly.",
}
_INT = re.compile(r"[-+]?\d[\d,]*")
# "not found" said in words: 'The value of key "k" is not given.', 'The pass key is: "NONE"'
_NOT_FOUND = re.compile(r"\bNONE\b|\bis not (?:explicitly )?(?:given|mentioned|stated|specified|provided|found|"
                        r"known|available|a number)\b|\bno (?:pass ?key|value|answer) (?:is )?(?:given|mentioned|found)")


class ParseFailure(ValueError):
    """The output is not in the answer kind's form (retried once, then reported)."""


def _clean(text: str) -> str:
    s = text.strip().strip("`").strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'":
        s = s[1:-1].strip()
    return s[:-1].rstrip() if s.endswith(".") else s


def is_none(text: str) -> bool:
    return _clean(text).lower() in NONE_WORDS


def parse(kind: str, text: str) -> Any:
    """Output text → answer (None for "not found"); raises ParseFailure when the form is wrong."""
    s = _clean(text)
    if not s:
        raise ParseFailure("empty output")
    if is_none(s):
        return None
    if kind == "number":
        return _one_number(s)
    if kind == "value" and len(s.split()) != 1:
        return _one_value(s)
    if kind == "span" and re.search(r"\bNONE\b", s):
        return None  # 'The answer is "NONE."'

    if kind == "list":
        return [_clean(x) for x in re.split(r"[,\n]", s) if _clean(x) and not is_none(x)]
    return s


def _one_value(s: str) -> str:
    """'The pass key is 10867.' → '10867': a sentence is forgiven when it holds one value with digits
    outside quotes (the quoted part usually repeats the question: 'The value of key "k-9" is 12')."""
    unquoted = re.sub(r'"[^"]*"', " ", s)
    found = {w.strip(".,;:!?\"'()") for w in unquoted.split() if any(ch.isdigit() for ch in w)}
    if _NOT_FOUND.search(s) and not any(_INT.fullmatch(w) for w in found):
        return None  # words for "not found", and no number beside them (a key's name may hold digits)
    numbers = {w for w in found if _INT.fullmatch(w)}
    found = numbers if len(found) > 1 and len(numbers) == 1 else found  # 'key k-9 is 85373' → 85373
    if len(found) != 1:
        raise ParseFailure(f"not a single value: {s[:60]!r}")
    return found.pop()


def _one_number(s: str) -> int:
    """'7' or a sentence holding exactly one whole number ('There are 7 such sentences.')."""
    found = _INT.findall(s) if not _INT.fullmatch(s) else [s]
    if len(found) != 1:
        raise ParseFailure(f"not a number: {s[:60]!r}")
    return int(found[0].replace(",", ""))


def merge_lists(parts: list[list]) -> list:
    """Concatenate, keeping the first occurrence of each item (case-insensitive), in order."""
    seen, out = set(), []
    for part in parts:
        for item in part:
            key = str(item).lower()
            if key not in seen:
                seen.add(key)
                out.append(item)
    return out


def vote(parts: list) -> Any:
    """The most common answer; ties go to the one seen first."""
    if not parts:
        return None
    counts = Counter(parts)
    best = max(counts.values())
    return next(p for p in parts if counts[p] == best)


REDUCERS: dict[str, Callable[[list], Any]] = {
    "value": vote,
    "label": vote,
    "span": vote,
    "number": lambda parts: sum(parts),
    "list": merge_lists,
}


def reduce_exact(kind: str, parts: list) -> Any:
    """Combine parsed partial answers of a structured kind; ``None`` parts (NONE) are dropped."""
    kept = [p for p in parts if p is not None]
    if kind == "number":
        return sum(kept)
    return REDUCERS[kind](kept)


NEAR = 0.8  # a runner-up with at least this share of the winner's evidence makes the result contested
VOTED = ("value", "label", "span")
CLIP = 20.0  # nats: one chunk's evidence is bounded, so no single vote is infinitely sure


@dataclass
class Vote:
    """One chunk's answer and its evidence: log P(answer) - log P(NONE) under the map prompt
    (1.0, a plain count, when the engine cannot score)."""

    answer: Any
    chunk: int
    weight: float = 1.0


def evidence(answer_logprob: float, none_logprob: float) -> float:
    """The map step's own log-odds of its answer against NONE, clipped to ±CLIP."""
    return max(-CLIP, min(CLIP, answer_logprob - none_logprob))


def weigh(votes: list[Vote], near: float = NEAR) -> dict[str, Any]:
    """The answer with the most evidence (log-odds summed over its votes, as independent evidence
    adds; spellings that normalise alike are one answer), every candidate, and whether the runner-up
    ties or nearly ties the winner. No answer when the evidence ties, or when it favours NONE for
    every candidate: choosing one would be a guess."""
    groups: dict[str, dict[str, Any]] = {}
    for v in votes:
        g = groups.setdefault(answer_key(v.answer), {"answer": v.answer, "weight": 0.0, "votes": 0, "chunks": []})
        g["weight"] += v.weight
        g["votes"] += 1
        g["chunks"].append([v.chunk, round(v.weight, 4)])
    ranked = sorted(groups.values(), key=lambda g: -g["weight"])
    for g in ranked:
        g["weight"] = round(g["weight"], 4)
    best = ranked[0]["weight"] if ranked else 0.0
    second = ranked[1]["weight"] if len(ranked) > 1 else None
    tie = second is not None and best > 0 and math.isclose(best, second, rel_tol=1e-6)
    reason = (f"the evidence ties between {ranked[0]['answer']!r} and {ranked[1]['answer']!r}" if tie else
              f"the map step preferred NONE to every answer found in its chunk (best: {ranked[0]['answer']!r}, "
              f"log-odds {best:+.2f})" if ranked and best <= 0 else None)
    return {"answer": ranked[0]["answer"] if ranked and not reason else None, "candidates": ranked[:10],
            "tie": tie, "near_tie": bool(not reason and second is not None and second >= near * best), "reason": reason}


def render(kind: str, answer: Any) -> str:
    """An answer as text for the next step's prompt or the user."""
    if answer is None or answer == []:
        return "NONE"
    if kind == "list":
        return ", ".join(map(str, answer))
    return str(answer)
