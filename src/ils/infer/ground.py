"""Grounding: an extractive map answer counts only if its chunk contains it, word for word.

A small model asked "the pass key, or NONE" of a chunk without one often invents a value ("1", a
definition); a vote of such chunks then outweighs the one chunk that holds the key verbatim. A map
answer of an extractive kind (``value``, ``label``, ``span``, each ``list`` item) is therefore kept
only when its words occur in the chunk as one contiguous run, compared after normalising case,
Unicode forms, whitespace and the punctuation around numbers (``48,213.`` matches ``48213``). When
the instruction quotes something (``the value of key "red-fox-3"``), the chunk must also contain
every quoted string: an answer from a chunk that never mentions the key asked about is a neighbour's.
A small model answers a question in a sentence that restates it ("The Broncos practiced for the Super
Bowl at Stanford University"); a ``span`` answer not found whole counts by its new words, the words
after the restated question ("Stanford University"), as ``value`` already forgives "The pass key is 7.".
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

GROUNDABLE = ("value", "label", "span", "list")  # kinds whose answers are copied from the text
_THOUSANDS = re.compile(r"(?<=\d)[,'](?=\d{3}\b)")
_WORD = re.compile(r"\w+|[^\w\s]")
_QUOTED = re.compile(r'"([^"\n]{1,80})"|\u201c([^\u201d\n]{1,80})\u201d')
SEP = "\x1f"
# words a restatement adds around the question's own words ("The answer is", "... was ...")
GLUE = frozenset(("the", "a", "an", "is", "was", "were", "are", "be", "been", "in", "at", "on", "of", "to", "by",
                  "for", "from", "with", "that", "it", "its", "as", "this", "answer", "did", "does", "do"))


def words(text: str) -> list[str]:
    """Comparable word tokens: NFKC, case-folded, thousands separators dropped, punctuation apart."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    return _WORD.findall(_THOUSANDS.sub("", text))


def _core(tokens: list[str]) -> list[str]:
    """Punctuation at either end of an answer says nothing about where it came from ('"Paris."')."""
    start, end = 0, len(tokens)
    while start < end and not tokens[start][0].isalnum():
        start += 1
    while end > start and not tokens[end - 1][0].isalnum():
        end -= 1
    return tokens[start:end]


class ChunkWords:
    """One chunk's words, joined once so each answer is a substring test on whole tokens."""

    def __init__(self, text: str):
        self.joined = SEP + SEP.join(words(text)) + SEP

    def has(self, phrase: str) -> bool:
        core = _core(words(phrase))
        return bool(core) and (SEP + SEP.join(core) + SEP) in self.joined


def answer_key(answer: Any) -> str:
    """One key for spellings of the same answer ('48,213.' and '48213'; 'Paris' and 'paris')."""
    return " ".join(_core(words(str(answer))))


def anchors(instruction: str) -> list[str]:
    """The quoted strings of an instruction: what a chunk must mention for its answer to count."""
    return [a or b for a, b in _QUOTED.findall(instruction) if (a or b).strip()]


def new_words(answer: str, question: str) -> str:
    """The answer without a leading restatement of the question ('' if nothing is left)."""
    asked = set(words(question)) | GLUE
    stems = {w[:5] for w in asked if len(w) >= 5}
    parts = answer.split()
    i = 0
    while i < len(parts) and all(w in asked or w[:5] in stems or not w[0].isalnum() for w in words(parts[i])):
        i += 1
    return " ".join(parts[i:]).strip(" ,;:")


def grounded(kind: str, answer: Any, chunk: ChunkWords, must: list[str] = (), question: str = "") -> tuple[Any, Any]:
    """(kept, dropped): the part of a parsed answer found in the chunk, and the part that is not.
    A list keeps its grounded items; a span may keep its new words; other kinds are kept or dropped whole."""
    if any(not chunk.has(a) for a in must):
        return (None, answer)
    if kind == "list":
        kept = [x for x in answer if chunk.has(str(x))]
        dropped = [x for x in answer if not chunk.has(str(x))]
        return (kept or None, dropped or None)
    if chunk.has(str(answer)):
        return (answer, None)
    rest = new_words(str(answer), question) if kind == "span" and question else ""
    return (rest, None) if rest and chunk.has(rest) else (None, answer)
