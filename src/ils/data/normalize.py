"""Text normalization: one Unicode form, one newline style, no stray control characters.

Two keys come out of it: ``clean`` (what is written to the dataset; meaning kept, so code and
lists keep their lines and indentation) and ``match_key`` (what duplicates are compared on:
lowercase, whitespace and punctuation folded).
"""

from __future__ import annotations

import re
import unicodedata

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\u200c\u200d\ufeff]")
_TRAILING = re.compile(r"[ \t]+$", re.M)
_BLANKS = re.compile(r"\n{3,}")
_PUNCT = re.compile(r"[^\w\s]")


def clean(text: str) -> str:
    """NFC, LF newlines, no control or zero-width characters, no trailing spaces, ≤2 blank lines."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text.replace("\u00a0", " "))
    return _BLANKS.sub("\n\n", _TRAILING.sub("", text)).strip()


def match_key(text: str) -> str:
    """Lowercase, punctuation dropped, whitespace collapsed (NFKC so look-alike forms agree)."""
    text = unicodedata.normalize("NFKC", text).lower()
    return " ".join(_PUNCT.sub(" ", text).split())
