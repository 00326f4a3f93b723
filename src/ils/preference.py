"""Preference records: a chosen and a rejected answer to one prompt (DPO), or one answer with a
thumbs up or down (KTO), as ordinary ``Example``s so every reader, writer and dataset folder carries them.

The chosen answer (or the rated one) is the example's target turn; ``meta["rejected"]`` holds the
rejected answer, ``meta["label"]`` the KTO label. Rows are read in the layouts people publish them in:

``ils.preference_rows`` reads rows in the layouts people publish them in (TRL's, Alpaca's, ShareGPT's).

Feedback rows from the store become the same records (``feedback_pairs``, ``feedback_ratings``).
"""

from __future__ import annotations

from ils.preference_rows import LABEL, REJECTED, assistant_turn
from ils.records import Example

__all__ = ["LABEL", "REJECTED", "feedback_pairs", "feedback_ratings", "is_pair", "is_rated", "rejected_example"]


def is_pair(ex: Example) -> bool:
    return isinstance(ex.meta.get(REJECTED), str)


def is_rated(ex: Example) -> bool:
    return isinstance(ex.meta.get(LABEL), bool)


def rejected_example(ex: Example) -> Example:
    """The pair's rejected side as its own Example (same prompt)."""
    return ex.model_copy(update={"messages": (*ex.messages[:-1], ex.messages[-1].model_copy(
        update={"content": ex.meta[REJECTED]}))})


# --- feedback rows (ils.store) → preference records -----------------------------------------------


def feedback_pairs(rows: list[dict]) -> list[Example]:
    """Corrections as DPO pairs: chosen = the correction, rejected = the answer the model gave."""
    out = []
    for row in rows:
        fix = (row.get("correction") or "").strip()
        if row["kind"] != "chat" or not fix or fix == row["output"].strip() or not row["output"].strip():
            continue
        out.append(Example(messages=[*row["prompt"], assistant_turn(fix)], id=f"feedback-{row['id']}",
                           source=f"feedback:{row['id']}", meta={REJECTED: row["output"], "rating": row["rating"]}))
    return out


def feedback_ratings(rows: list[dict]) -> list[Example]:
    """Ratings as a KTO set (+1 desirable, -1 undesirable, 0 left out); a correction adds itself as
    desirable beside the corrected answer."""
    out = []
    for row in rows:
        if row["kind"] != "chat":
            continue
        if row["rating"] != 0 and row["output"].strip():
            out.append(_rated(row, row["output"], row["rating"] > 0, "answer"))
        fix = (row.get("correction") or "").strip()
        if fix and fix != row["output"].strip():
            out.append(_rated(row, fix, True, "correction"))
    return out


def _rated(row: dict, text: str, good: bool, part: str) -> Example:
    return Example(messages=[*row["prompt"], assistant_turn(text)], id=f"feedback-{row['id']}-{part}",
                   source=f"feedback:{row['id']}", meta={LABEL: good, "rating": row["rating"]})
