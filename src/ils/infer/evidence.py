"""What every map step saw, for ``result.json``: answers kept, answers not found in their chunk,
NONE replies, unparsed outputs, and the reduce's weighed candidates; and, when the run ends with no
answer, the reason in words (so "no answer found" is never a silent NONE or a guessed value).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_LISTED = 200  # ungrounded answers listed in result.json per step (all are counted)


@dataclass
class MapTally:
    chunks: int = 0
    none: int = 0
    unparsed: int = 0
    grounded: int = 0
    ungrounded: int = 0


@dataclass
class Ledger:
    maps: dict[str, MapTally] = field(default_factory=dict)
    ungrounded: list[dict] = field(default_factory=list)
    evidence: dict[str, dict] = field(default_factory=dict)
    skipped: dict[str, list[str]] = field(default_factory=dict)  # step → the steps it read, all empty
    reads: dict[str, str] = field(default_factory=dict)  # reduce step → its map step
    weights: str = "scored"  # or why votes were counted unweighted

    def tally(self, step: str) -> MapTally:
        return self.maps.setdefault(step, MapTally())

    def drop(self, step: str, chunk: int, answer: Any, snippet: str) -> None:
        self.tally(step).ungrounded += 1
        if sum(1 for u in self.ungrounded if u["step"] == step) < MAX_LISTED:
            self.ungrounded.append({"step": step, "chunk": chunk, "answer": answer, "text": snippet})

    def report(self) -> dict[str, Any]:
        return {"maps": {k: vars(v) for k, v in self.maps.items()}, "ungrounded": self.ungrounded,
                "evidence": self.evidence, "weights": self.weights}

    def why_none(self, step: str) -> str:
        """Why ``step`` has no answer (through the steps it read, when it had nothing to work from)."""
        if step in self.skipped:
            first = self.skipped[step][0]
            return f"step '{step}' had nothing to work from: {first} found nothing ({self.why_none(first)})"
        ev = self.evidence.get(step)
        if ev and ev["reason"]:
            return ev["reason"]
        t = self.maps.get(self.reads.get(step, step))
        if t is None:
            return f"step '{step}' answered NONE"
        if t.ungrounded and not t.grounded and t.chunks == 1:
            return ("the answer does not occur in the text it was asked about (listed under 'ungrounded'); "
                    "if the answer need not be quoted from the text, rerun with --no-ground")
        if t.ungrounded and not t.grounded:
            return (f"none of the {t.ungrounded} answers from {t.chunks} chunks occurs in its chunk (listed "
                    "under 'ungrounded'); if the answer need not be quoted from the text, rerun with --no-ground")
        if t.unparsed and not t.grounded:
            return (f"{t.unparsed} of {t.chunks} chunks gave output in no usable form (see 'errors') and the "
                    "rest answered NONE")
        if t.chunks == 1:
            return "the model answered NONE"
        return f"every one of the {t.chunks} chunks answered NONE"
