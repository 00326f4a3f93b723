"""Feedback turned into training data, the parts ``ils loop``'s SFT and preference paths share: a
record's prompt text, the normalised text used to find duplicates, decontamination against the
regression set, and a stable held-out split."""

from __future__ import annotations

import hashlib
import re

from ils.records import Example


def prompt_text(ex: Example) -> str:
    return "\n".join(m["content"] for m in ex.prompt_messages)


def norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def decontaminate(examples: list[Example], against: list[Example], n: int = 8) -> tuple[list[Example], int]:
    """Drop examples whose prompt equals a regression prompt or shares an n-word run with one
    (``ils.data.decontaminate``, the filter ``ils data build`` uses)."""
    from ils.data.decontaminate import build_index

    index = build_index([t for ex in against for t in (prompt_text(ex), ex.instruction)], n)
    kept = [ex for ex in examples
            if index.match(prompt_text(ex)) is None and index.match(ex.instruction) is None]
    return kept, len(examples) - len(kept)


def split_heldout(examples: list[Example], share: float) -> tuple[list[Example], list[Example]]:
    """Stable split by id hash, so a feedback row stays on the same side as more feedback arrives."""
    ranked = sorted(examples, key=lambda ex: hashlib.sha256(ex.id.encode()).hexdigest())
    k = min(len(ranked) - 1, max(1, round(share * len(ranked))))
    return ranked[k:], ranked[:k]
