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
               "tests_column": "tests", "language": "Python", "group_column": None}
    about = "Write a function from an instruction; scored by running its tests (pass@k, sandboxed)."
    answer_doc = "{solution, tests}: the reference code and the test code pass@k runs against an answer"
    option_help = {
        "instruction_column": "the column holding the task description",
        "solution_column": "the column holding the reference solution",
        "tests_column": "the column holding tests (a string, or a list of assert lines); optional",
        "language": "the language's name, as templates write it",
        "group_column": "records with the same value here stay in one split",
    }
    example = {
        "file": "mbpp.jsonl",
        "content": '{"text": "Write a function that returns the square of n.", "code": "def square(n):\\n'
                   '    return n * n", "test_list": ["assert square(3) == 9"]}\n',
        "options": {"instruction_column": "text", "solution_column": "code", "tests_column": "test_list"},
    }

    def parse(self, text: str) -> str | None:
        """The first fenced block (an unclosed fence runs to the end), else the whole text. An empty
        block, or Python without a fence that does not compile (prose), is unparseable."""
        m = _BLOCK.search(text)
        code = (m.group(1) if m else text).strip("\n").rstrip()
        if not code.strip():
            return None
        if not m and self.options.get("language", "Python").lower() == "python" and not _compiles(code):
            return None
        return code

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


def _compiles(code: str) -> bool:
    try:
        compile(code, "<answer>", "exec")
    except (SyntaxError, ValueError):
        return False
    return True


TASKS.add(CodeTask())
