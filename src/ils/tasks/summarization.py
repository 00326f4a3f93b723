"""Summarization from document/summary tables (JSONL, CSV, TSV); scored with ROUGE."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from ils.errors import RecordError
from ils.tasks import TASKS
from ils.tasks.base import RawRecord, Task
from ils.tasks.readers import read_table
from ils.tasks.templates import Template

TEMPLATES = (
    Template("command", "Summarize the following document.\n\n{{ document }}", "{{ summary }}", "command"),
    Template("question", "{{ document }}\n\nWhat is the gist of the text above, in a few sentences?",
             "{{ summary }}", "question"),
    Template("tldr", "{{ document }}\n\nTL;DR:", "{{ summary }}", "command"),
    Template("brief", "Write a brief summary of this article:\n\n{{ document }}", "{{ summary }}", "command"),
    Template("main", "What are the main points of the following text?\n\n{{ document }}", "{{ summary }}",
             "question"),
    Template("inverted", "Write a short article that this summary could describe:\n\n{{ summary }}",
             "{{ document }}", "inverted"),
)


class SummarizationTask(Task):
    name = "summarization"
    metric = "rouge"
    input_fields = ("document",)
    output = "summary"
    templates = TEMPLATES
    options = {"document_column": "document", "summary_column": "summary"}

    def read(self, path: str | Path) -> Iterator[RawRecord | RecordError]:
        o = self.options
        cols = {"document": o["document_column"], "summary": o["summary_column"]}
        yield from read_table(path, cols, group_column=o.get("group_column"))

    def answer(self, fields: dict[str, Any]) -> str:
        return str(fields["summary"]).strip()


TASKS.add(SummarizationTask())
