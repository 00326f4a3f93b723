"""Open-ended instructions (self-instruct output, seed tasks): the reply is free text, scored with
ROUGE-L against the reference, as the Self-Instruct paper scores its held-out tasks."""

from __future__ import annotations

from ils.tasks import TASKS
from ils.tasks.answers import has_content
from ils.tasks.base import Task


class OpenInstruction(Task):
    name = "self-instruct"
    metric = "rouge"
    output = "text"

    def parse(self, text: str) -> str | None:
        text = text.strip()
        return text if has_content(text) else None


TASKS.add(OpenInstruction())
