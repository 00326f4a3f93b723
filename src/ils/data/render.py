"""One raw record under one template → an ``Example`` (the only place templates meet data)."""

from __future__ import annotations

from typing import Any

from ils.errors import RecordError
from ils.records import Example, Message
from ils.tasks.base import RawRecord, Task
from ils.tasks.templates import Template, TemplateFieldError, render_template


def make_example(task: Task, tpl: Template, raw: RawRecord, ex_id: str) -> Example:
    """Render; a missing field, an empty output or a bad turn becomes a ``RecordError``."""
    try:
        system, user, target = render_template(tpl, task.variables(raw.fields))
    except TemplateFieldError as e:
        raise RecordError(raw.where, None, e.field, str(e)) from None
    if not target.strip():
        raise RecordError(raw.where, None, "output", f"empty output (template '{tpl.name}')")
    msgs = task.conversation(system, user, target, raw.fields)
    answer = target if tpl.inverted else task.answer(raw.fields)
    meta: dict[str, Any] = {"fields": _plain(raw.fields), "inverted": tpl.inverted}
    if raw.group:
        meta["group"] = raw.group
    return Example(messages=tuple(Message(**m) for m in msgs), task=task.name, template=tpl.name,
                   answer=answer, id=ex_id, source=raw.where, meta=meta)


def _plain(fields: dict[str, Any]) -> dict[str, Any]:
    """Fields as stored in ``meta`` (NER tokens are implied by the text, so not stored twice)."""
    return {k: v for k, v in fields.items() if k != "tokens"}
