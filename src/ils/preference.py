"""Preference records: a chosen and a rejected answer to one prompt (DPO), or one answer with a
thumbs up or down (KTO), as ordinary ``Example``s so every reader, writer and dataset folder carries them.

The chosen answer (or the rated one) is the example's target turn; ``meta["rejected"]`` holds the
rejected answer, ``meta["label"]`` the KTO label. Rows are read in the layouts people publish them in:

- TRL's: ``{"prompt", "chosen", "rejected"}`` with text or message lists, or only ``chosen`` and
  ``rejected`` as whole conversations (the prompt is their shared beginning, which must be equal);
  ``{"prompt", "completion", "label"}`` for KTO;
- Alpaca's (``instruction``/``input`` + ``chosen``/``rejected``) and ShareGPT's (``conversations`` +
  ``chosen``/``rejected`` turns), as LLaMA-Factory writes them.

Feedback rows from the store become the same records (``feedback_pairs``, ``feedback_ratings``).
"""

from __future__ import annotations

from typing import Any

from ils.records import SHAREGPT_ROLES, Example

REJECTED, LABEL = "rejected", "label"


def from_preference_row(row: dict, layout: str, extra: dict) -> Example:
    """One preference (``layout`` preference) or rated (``kto``) row → an Example.

    Raises ValueError("field: reason") or KeyError(field) for the caller to place."""
    if layout == "kto":
        prompt, answer = _prompt(row, None), _answer(row, "completion")
        meta = {**extra.pop("meta", {}), LABEL: _label(row.get("label"))}
        return Example.model_validate({"messages": [*prompt, _turn(answer)], **extra, "meta": meta})
    for key in ("chosen", REJECTED):
        if row.get(key) in (None, "", []):
            raise KeyError(key)
    prompt = _prompt(row, (row["chosen"], row[REJECTED]))
    chosen, rejected = _answer(row, "chosen"), _answer(row, REJECTED)
    if chosen == rejected:
        raise ValueError("rejected: the same answer as chosen (nothing to prefer)")
    meta = {**extra.pop("meta", {}), REJECTED: rejected}
    return Example.model_validate({"messages": [*prompt, _turn(chosen)], **extra, "meta": meta})


def _turn(text: str) -> dict:
    return {"role": "assistant", "content": text}


def _messages(value: Any, field: str) -> list[dict]:
    """Turns as {role, content} from text, one turn, or a list in OpenAI or ShareGPT form."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    turns = [value] if isinstance(value, dict) else value
    if not isinstance(turns, list) or not all(isinstance(t, dict) for t in turns):
        raise ValueError(f"{field}: not text or a list of turns")
    out = []
    for t in turns:
        role = t.get("role") or SHAREGPT_ROLES.get(str(t.get("from", "")).lower())
        content = t.get("content", t.get("value"))
        if role is None or not isinstance(content, str):
            raise ValueError(f"{field}: a turn needs role/content (or from/value)")
        out.append({"role": role, "content": content})
    return out


def _prompt(row: dict, answers: tuple[Any, Any] | None) -> list[dict]:
    """The prompt turns: ``prompt``, Alpaca's instruction (+ input, system), ShareGPT/OpenAI turns, or
    the shared beginning of two whole conversations (which must be the same)."""
    system = [{"role": "system", "content": row["system"]}] if row.get("system") else []
    if row.get("prompt") not in (None, ""):
        return system + _messages(row["prompt"], "prompt")
    if row.get("instruction") not in (None, ""):
        text = row["instruction"] + (f"\n\n{row['input']}" if row.get("input") else "")
        return system + [{"role": "user", "content": text}]
    for key in ("conversations", "messages"):
        if row.get(key):
            return system + _messages(row[key], key)
    if answers is None:
        raise KeyError("prompt")
    return system + _shared_prompt(*answers)


def _shared_prompt(chosen: Any, rejected: Any) -> list[dict]:
    a, b = _messages(chosen, "chosen"), _messages(rejected, REJECTED)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("prompt: missing (chosen and rejected are single answers, so a prompt is needed)")
    if a[:-1] != b[:-1]:
        raise ValueError("rejected: its prompt differs from chosen's (a pair answers one prompt)")
    return a[:-1]


def _answer(row: dict, key: str) -> str:
    value = row.get(key)
    if value in (None, "", []):
        raise KeyError(key)
    if isinstance(value, str):
        return value
    last = _messages(value, key)[-1]
    if last["role"] != "assistant":
        raise ValueError(f"{key}: the last turn is not the assistant's answer")
    return last["content"]


def _label(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "good", "desirable"):
        return True
    if text in ("false", "0", "-1", "no", "bad", "undesirable"):
        return False
    raise ValueError(f"label: {value!r} is not true/false")


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
        out.append(Example(messages=[*row["prompt"], _turn(fix)], id=f"feedback-{row['id']}",
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
    return Example(messages=[*row["prompt"], _turn(text)], id=f"feedback-{row['id']}-{part}",
                   source=f"feedback:{row['id']}", meta={LABEL: good, "rating": row["rating"]})
