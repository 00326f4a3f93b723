"""Translation from source/target pairs (JSONL, CSV, TSV); the inverted template translates back."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from ils.errors import RecordError
from ils.tasks import TASKS
from ils.tasks.base import RawRecord, Task
from ils.tasks.readers import read_table
from ils.tasks.templates import Template

TEMPLATES = (
    Template("command", "Translate from {{ source_lang }} to {{ target_lang }}:\n\n{{ source }}",
             "{{ target }}", "command"),
    Template("question", "How do you say \"{{ source }}\" in {{ target_lang }}?", "{{ target }}", "question"),
    Template("arrow", "{{ source_lang }}: {{ source }}\n{{ target_lang }}:", "{{ target }}", "command"),
    Template("render", "Render this {{ source_lang }} text in {{ target_lang }}, keeping its meaning and "
             "tone.\n\n{{ source }}", "{{ target }}", "command"),
    Template("what", "What is the {{ target_lang }} translation of the following {{ source_lang }} "
             "sentence?\n\n{{ source }}", "{{ target }}", "question"),
    Template("inverted", "Translate from {{ target_lang }} to {{ source_lang }}:\n\n{{ target }}",
             "{{ source }}", "inverted"),
)


class TranslationTask(Task):
    name = "translation"
    metric = "bleu"
    input_fields = ("source",)
    output = "translation"
    templates = TEMPLATES
    options = {"source_column": "source", "target_column": "target",
               "source_lang": "English", "target_lang": "French"}

    def read(self, path: str | Path) -> Iterator[RawRecord | RecordError]:
        o = self.options
        cols = {"source": o["source_column"], "target": o["target_column"]}
        yield from read_table(path, cols, group_column=o.get("group_column"))

    def variables(self, fields: dict[str, Any]) -> dict[str, Any]:
        langs = {"source_lang": self.options["source_lang"], "target_lang": self.options["target_lang"]}
        return {**langs, **super().variables(fields)}

    def answer(self, fields: dict[str, Any]) -> str:
        return str(fields["target"]).strip()


TASKS.add(TranslationTask())
