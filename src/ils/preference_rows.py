"""Preference rows as people publish them, turned into the fields of a record (``ils.records`` reads
them like any other layout; ``ils.preference`` works on the records). This module imports nothing of
ILS: the record layer sits above it.

- TRL's: ``{"prompt", "chosen", "rejected"}`` with text or message lists, or only ``chosen`` and
  ``rejected`` as whole conversations (the prompt is their shared beginning, which must be equal);
  ``{"prompt", "completion", "label"}`` for KTO;
- Alpaca's (``instruction``/``input`` + ``chosen``/``rejected``) and ShareGPT's (``conversations`` +
  ``chosen``/``rejected`` turns), as LLaMA-Factory writes them.
"""

from __future__ import annotations

from typing import Any

REJECTED, LABEL = "rejected", "label"
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "system": "system", "bot": "assistant", "model": "assistant"}


def preference_row(row: dict, layout: str, extra: dict) -> dict:
    """One preference (``layout`` preference) or rated (``kto``) row → the fields of a record.

    Raises ValueError("field: reason") or KeyError(field) for the caller to place."""
    if layout == "kto":
        prompt, answer = _prompt(row, None), _answer(row, "completion")
        meta = {**extra.pop("meta", {}), LABEL: _label(row.get("label"))}
        return {"messages": [*prompt, assistant_turn(answer)], **extra, "meta": meta}
    for key in ("chosen", REJECTED):
        if row.get(key) in (None, "", []):
            raise KeyError(key)
    prompt = _prompt(row, (row["chosen"], row[REJECTED]))
    chosen, rejected = _answer(row, "chosen"), _answer(row, REJECTED)
    if chosen == rejected:
        raise ValueError("rejected: the same answer as chosen (nothing to prefer)")
    meta = {**extra.pop("meta", {}), REJECTED: rejected}
    return {"messages": [*prompt, assistant_turn(chosen)], **extra, "meta": meta}


def assistant_turn(text: str) -> dict:
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
