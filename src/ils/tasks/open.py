"""Open-ended instructions (self-instruct output, seed tasks): the reply is free text, scored with
ROUGE-L against the reference, as the Self-Instruct paper scores its held-out tasks."""

from __future__ import annotations

from ils.tasks import TASKS
from ils.tasks.base import Task


class OpenInstruction(Task):
    name = "self-instruct"
    metric = "rouge"
    output = "text"


TASKS.add(OpenInstruction())
