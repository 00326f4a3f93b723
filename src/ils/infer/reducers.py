"""Parsing partial answers and combining them exactly: lists merged, counts summed, labels voted.

A map step's answer kind decides both how each chunk's output is parsed and how the parts combine.
"Not found" (NONE) parses to ``None`` and is dropped before combining. Only ``text`` answers need a
model to combine (a tree of summarising calls); the rest reduce in code, exactly.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

KINDS = ("text", "value", "label", "number", "list")
NONE_WORDS = {"none", "not found", "n/a", "no answer", "nothing"}
HINTS = {
    "value": "Answer with the value only, or NONE.",
    "label": "Answer with the label only, or NONE.",
    "number": "Answer with a whole number only.",
    "list": "Answer with a comma-separated list only, or NONE.",
    "text": "Answer briefly.",
}
_INT = re.compile(r"[-+]?\d[\d,]*")


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
        if not _INT.fullmatch(s):
            raise ParseFailure(f"not a number: {s[:60]!r}")
        return int(s.replace(",", ""))
    if kind == "value" and len(s.split()) != 1:
        return _one_value(s)
    if kind == "list":
        return [_clean(x) for x in re.split(r"[,\n]", s) if _clean(x) and not is_none(x)]
    return s


def _one_value(s: str) -> str:
    """'The pass key is 10867.' → '10867': a sentence is forgiven when it holds one value with digits
    outside quotes (the quoted part usually repeats the question: 'The value of key "k-9" is 12')."""
    unquoted = re.sub(r'"[^"]*"', " ", s)
    found = {w.strip(".,;:!?\"'()") for w in unquoted.split() if any(ch.isdigit() for ch in w)}
    if not found and unquoted.rstrip(" .").upper().endswith(" NONE"):
        return None  # 'The value of key "k" is NONE.'
    if len(found) != 1:
        raise ParseFailure(f"not a single value: {s[:60]!r}")
    return found.pop()


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
    "number": lambda parts: sum(parts),
    "list": merge_lists,
}


def reduce_exact(kind: str, parts: list) -> Any:
    """Combine parsed partial answers of a structured kind; ``None`` parts (NONE) are dropped."""
    kept = [p for p in parts if p is not None]
    if kind == "number":
        return sum(kept)
    return REDUCERS[kind](kept)


def render(kind: str, answer: Any) -> str:
    """An answer as text for the next step's prompt or the user."""
    if answer is None or answer == []:
        return "NONE"
    if kind == "list":
        return ", ".join(map(str, answer))
    return str(answer)
