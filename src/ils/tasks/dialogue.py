"""Dialogue: multi-turn conversations become ``messages``; the last assistant turn is the target.

Raw rows are ``{"turns": [...]}`` where a turn is a string (speakers alternate, user first) or a
``{"role", "content"}`` / ``{"from", "value"}`` dict. Templates vary the system prompt and how the
first user turn is framed, since the rest of the conversation is the data itself.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Iterator

from ils.errors import RecordError
from ils.records import SHAREGPT_ROLES
from ils.tasks import TASKS
from ils.tasks.base import RawRecord, Task
from ils.tasks.answers import has_content
from ils.tasks.readers import LOOKAHEAD, check_columns, table_rows
from ils.tasks.templates import Template

TEMPLATES = (
    Template("plain", "{{ first }}", "{{ reply }}", "command"),
    Template("helpful", "{{ first }}", "{{ reply }}", "command", system="You are a helpful assistant."),
    Template("question", "{{ first }}", "{{ reply }}", "question",
             system="Answer the user's questions clearly and briefly."),
    Template("continue", "Continue this conversation as the assistant.\n\n{{ first }}", "{{ reply }}",
             "command"),
    Template("friendly", "{{ first }}", "{{ reply }}", "command",
             system="You are a friendly assistant having a conversation."),
)


class DialogueTask(Task):
    name = "dialogue"
    metric = "rouge"
    input_fields = ("turns",)
    output = "reply"
    templates = TEMPLATES
    options = {"turns_column": "turns"}
    about = "Multi-turn conversations: the last assistant turn is the target, earlier turns are context."
    answer_doc = "the last assistant turn (a string)"
    option_help = {"turns_column": "the column holding the turns: a list of strings (user first, then "
                                   "alternating) or of {role, content} / {from, value} objects"}
    example = {
        "file": "chats.jsonl",
        "content": '{"turns": ["Hi! Can you suggest a name for a cat?", "How about Miso?", "Another one?", '
                   '"Pepper."]}\n',
        "options": {},
    }

    def parse(self, text: str) -> str | None:
        text = text.strip()
        return text if has_content(text) else None

    def read(self, path: str | Path) -> Iterator[RawRecord | RecordError]:
        col = self.options["turns_column"]
        rows = table_rows(path)
        head = list(itertools.islice(rows, LOOKAHEAD))
        check_columns(path, head, {"turns": col}, ())
        for line, row, _ in itertools.chain(head, rows):
            if isinstance(row, RecordError):
                yield row
                continue
            turns = _turns(row.get(col) if isinstance(row, dict) else None)
            if isinstance(turns, str):
                yield RecordError(str(path), line, col, turns)
            else:
                yield RawRecord({"turns": turns}, str(path), line)

    def variables(self, fields: dict[str, Any]) -> dict[str, Any]:
        turns = fields["turns"]
        return {**super().variables(fields), "first": turns[0], "reply": turns[-1]}

    def answer(self, fields: dict[str, Any]) -> str:
        return fields["turns"][-1]

    def dedup_text(self, fields: dict[str, Any]) -> str:
        return " ".join(fields["turns"][:-1])

    def conversation(self, system: str | None, user: str, target: str,
                     fields: dict[str, Any]) -> list[dict[str, str]]:
        """The templated first turn, the data's middle turns as they are, then the target reply."""
        head = [{"role": "system", "content": system}] if system else []
        middle = [{"role": "assistant" if i % 2 == 0 else "user", "content": t}
                  for i, t in enumerate(fields["turns"][1:-1])]
        return head + [{"role": "user", "content": user}, *middle, {"role": "assistant", "content": target}]


def _turns(raw: Any) -> list[str] | str:
    """A list of turn texts, user first, assistant last; or the reason it is not one."""
    if not isinstance(raw, list) or len(raw) < 2:
        return "expected a list of at least two turns"
    texts, roles = [], []
    for t in raw:
        if isinstance(t, dict):
            roles.append(SHAREGPT_ROLES.get(str(t.get("role", t.get("from", ""))).lower()))
            t = t.get("content", t.get("value"))
        if not isinstance(t, str) or not t.strip():
            return f"turn {len(texts) + 1} is empty or not text"
        texts.append(t)
    if any(r not in (None, "user" if i % 2 == 0 else "assistant") for i, r in enumerate(roles)):
        return "turns must alternate user, assistant, user, ... (no system turns)"
    if len(texts) % 2:
        return "the last turn must be the assistant's"
    return texts


TASKS.add(DialogueTask())
