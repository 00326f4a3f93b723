"""Seeded noise for robustness checks: character typos and word swaps, the same output for the same seed.

``perturb(text, seed)`` changes about ``typo_rate`` of the words of four letters or more by one typo
(two neighbouring letters swapped, a letter dropped or doubled, or a QWERTY neighbour typed instead) and
swaps about ``swap_rate`` of the pairs of neighbouring words. Each text draws from its own generator,
seeded by (seed, text), so a perturbed set does not depend on the order of its records.
"""

from __future__ import annotations

import hashlib
import random

ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
NEIGHBOURS = {c: "".join(r[j] for j in (i - 1, i + 1) if 0 <= j < len(r)) for r in ROWS for i, c in enumerate(r)}


def _rng(text: str, seed: int) -> random.Random:
    digest = hashlib.sha256(f"{seed}\0{text}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def typo(word: str, rng: random.Random) -> str:
    """One typing error inside ``word`` (its first letter is kept, as people rarely miss it)."""
    i = rng.randrange(1, len(word))
    kind = rng.choice(("swap", "drop", "double", "neighbour"))
    if kind == "swap" and i < len(word) - 1:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == "drop":
        return word[:i] + word[i + 1:]
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    near = NEIGHBOURS.get(word[i].lower())
    return word[:i] + rng.choice(near) + word[i + 1:] if near else word[:i] + word[i] + word[i:]


def perturb(text: str, seed: int = 0, typo_rate: float = 0.1, swap_rate: float = 0.1) -> str:
    rng = _rng(text, seed)
    words = text.split(" ")
    words = [typo(w, rng) if len(w) >= 4 and w.isalpha() and rng.random() < typo_rate else w for w in words]
    i = 0
    while i < len(words) - 1:
        if rng.random() < swap_rate:
            words[i], words[i + 1] = words[i + 1], words[i]
            i += 2
        else:
            i += 1
    return " ".join(words)
