"""Code: an instruction, a solution and its tests; the parser pulls the code out of a fenced reply."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

from ils.errors import RecordError
from ils.tasks import TASKS
from ils.tasks.base import RawRecord, Task
from ils.tasks.readers import read_table
from ils.tasks.templates import Template

FENCE = "```{{ language }}\n{{ solution }}\n```"

TEMPLATES = (
    Template("command", "Write a {{ language }} function for this task:\n\n{{ instruction }}", FENCE,
             "command"),
    Template("question", "How would you solve the following in {{ language }}?\n\n{{ instruction }}",
             FENCE, "question"),
    Template("tests", "{{ instruction }}\n\nYour code must pass these tests:\n{{ tests }}", FENCE, "command"),
    Template("implement", "Implement the following in {{ language }}. Reply with a code block only."
             "\n\n{{ instruction }}", FENCE, "command"),
    Template("can", "Can you write {{ language }} code that does this? {{ instruction }}", FENCE, "question"),
    Template("inverted", "Describe in one or two sentences what this {{ language }} code does.\n\n" + FENCE,
             "{{ instruction }}", "inverted"),
)

_BLOCK = re.compile(r"```[\w+-]*\n(.*?)(?:```|\Z)", re.S)


class CodeTask(Task):
    name = "code"
    metric = "pass_at_k"
    input_fields = ("instruction",)
    output = "code"
    templates = TEMPLATES
    options = {"instruction_column": "instruction", "solution_column": "solution",
               "tests_column": "tests", "language": "Python"}

    def parse(self, text: str) -> str:
        """The first fenced block (an unclosed fence runs to the end), else the whole text."""
        m = _BLOCK.search(text)
        return (m.group(1) if m else text).strip("\n").rstrip()

    def read(self, path: str | Path) -> Iterator[RawRecord | RecordError]:
        o = self.options
        cols = {"instruction": o["instruction_column"], "solution": o["solution_column"],
                "tests": o["tests_column"]}
        for rec in read_table(path, cols, optional=("tests",), group_column=o.get("group_column")):
            if isinstance(rec, RawRecord) and isinstance(rec.fields.get("tests"), list):
                rec.fields["tests"] = "\n".join(map(str, rec.fields["tests"]))
            yield rec

    def variables(self, fields: dict[str, Any]) -> dict[str, Any]:
        return {"language": self.options["language"], "tests": "", **super().variables(fields)}

    def answer(self, fields: dict[str, Any]) -> dict:
        return {"solution": str(fields["solution"]).strip("\n").rstrip(), "tests": fields.get("tests", "")}

    def correct(self, parsed: Any, gold: Any) -> bool:
        """Textual equality only; running ``gold["tests"]`` is the pass@k metric's job."""
        return parsed is not None and parsed == gold["solution"]

    def roundtrip(self, reference: str, fields: dict[str, Any]) -> bool:
        return self.parse(reference) == self.answer(fields)["solution"]


TASKS.add(CodeTask())
