"""Translation from source/target pairs (JSONL, CSV, TSV); the inverted template translates back.

A record may carry several reference translations (``target_column: [ref1, ref2]``); see
``ils.tasks.references``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from ils.errors import RecordError
from ils.tasks import TASKS
from ils.tasks.base import RawRecord
from ils.tasks.readers import read_table
from ils.tasks.references import ReferenceAnswer
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


class TranslationTask(ReferenceAnswer):
    name = "translation"
    metric = "bleu"
    input_fields = ("source",)
    output = "translation"
    answer_field = "target"
    templates = TEMPLATES
    options = {"source_column": "source", "target_column": "target",
               "source_lang": "English", "target_lang": "French", "group_column": None}
    about = "Translate a text from one language to another."
    answer_doc = ("the reference translation (a string); with several target columns, the list of "
                  "references (the first is the training target)")
    option_help = {
        "source_column": "the column holding the text to translate",
        "target_column": "the column holding the translation, or a list of columns: several references",
        "source_lang": "the source language's name, as templates write it",
        "target_lang": "the target language's name, as templates write it",
        "group_column": "records with the same value here stay in one split (e.g. a document id)",
    }
    example = {
        "file": "wmt_en_de.jsonl",
        "content": '{"en": "The house is small.", "de": "Das Haus ist klein."}\n'
                   '{"en": "I like green tea.", "de": "Ich mag grünen Tee."}\n',
        "options": {"source_column": "en", "target_column": "de", "source_lang": "English",
                    "target_lang": "German"},
    }

    def read(self, path: str | Path) -> Iterator[RawRecord | RecordError]:
        o = self.options
        cols = {"source": o["source_column"], "target": o["target_column"]}
        yield from read_table(path, cols, group_column=o.get("group_column"))

    def variables(self, fields: dict[str, Any]) -> dict[str, Any]:
        langs = {"source_lang": self.options["source_lang"], "target_lang": self.options["target_lang"]}
        return {**langs, **super().variables(fields)}


TASKS.add(TranslationTask())
