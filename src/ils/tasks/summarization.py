"""Summarization from document/summary tables (JSONL, CSV, TSV); scored with ROUGE.

A record may carry several reference summaries (``summary_column: [summary1, summary2, summary3]``,
as DialogSum's test split does); see ``ils.tasks.references``. Templates name what is summarized
(``document_kind``): a dialogue is called a dialogue, not an article. ``auto`` calls a document whose
lines mostly start with a speaker's name (``Amanda: …``) a dialogue, anything else a text.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

from ils.errors import RecordError
from ils.tasks import TASKS
from ils.tasks.base import RawRecord
from ils.tasks.readers import read_table
from ils.tasks.references import ReferenceAnswer
from ils.tasks.templates import Template

TEMPLATES = (
    Template("command", "Summarize the following {{ kind }}.\n\n{{ document }}", "{{ summary }}", "command"),
    Template("question", "{{ document }}\n\nWhat is the gist of the {{ kind }} above, in a few sentences?",
             "{{ summary }}", "question"),
    Template("tldr", "{{ document }}\n\nTL;DR:", "{{ summary }}", "command"),
    Template("brief", "Write a brief summary of this {{ kind }}:\n\n{{ document }}", "{{ summary }}", "command"),
    Template("main", "What are the main points of the following {{ kind }}?\n\n{{ document }}",
             "{{ summary }}", "question"),
    Template("inverted", "Write a short {{ kind }} that this summary could describe:\n\n{{ summary }}",
             "{{ document }}", "inverted"),
)

_SPEAKER = re.compile(r"^\s*#?[\w][\w .'#-]{0,30}:\s+\S")


def document_kind(document: str) -> str:
    """"dialogue" when most lines (at least two) start with a speaker's name, else "text"."""
    lines = [ln for ln in str(document).splitlines() if ln.strip()]
    speakers = sum(bool(_SPEAKER.match(ln)) for ln in lines)
    return "dialogue" if speakers >= 2 and speakers >= 0.6 * len(lines) else "text"


class SummarizationTask(ReferenceAnswer):
    name = "summarization"
    metric = "rouge"
    input_fields = ("document",)
    output = "summary"
    answer_field = "summary"
    templates = TEMPLATES
    options = {"document_column": "document", "summary_column": "summary", "document_kind": "auto",
               "group_column": None}
    about = "Summarize a text (an article, a dialogue, a report) in a few sentences."
    answer_doc = ("the reference summary (a string); with several summary columns, the list of reference "
                  "summaries (the first is the training target)")
    option_help = {
        "document_column": "the column holding the text to summarize",
        "summary_column": "the column holding the summary, or a list of columns: several references per "
                          "record (ROUGE takes the best-scoring one)",
        "document_kind": "what templates call the text: auto (dialogue when most lines start with a "
                         "speaker's name, else text), or any word: article, dialogue, report, ...",
        "group_column": "records with the same value here stay in one split (e.g. a document id)",
    }
    example = {
        "file": "dialogsum_test.jsonl",
        "content": '{"id": "test_1", "dialogue": "#Person1#: Hi, Mr. Smith. I\'m Doctor Hawkins.\\n'
                   '#Person2#: I\'m here for my yearly check-up.", "summary1": "Mr. Smith is getting a '
                   'check-up from Doctor Hawkins.", "summary2": "Mr. Smith sees Doctor Hawkins for his '
                   'yearly check-up.", "summary3": "Doctor Hawkins gives Mr. Smith a check-up."}\n',
        "options": {"document_column": "dialogue", "summary_column": ["summary1", "summary2", "summary3"]},
    }

    def read(self, path: str | Path) -> Iterator[RawRecord | RecordError]:
        o = self.options
        cols = {"document": o["document_column"], "summary": o["summary_column"]}
        yield from read_table(path, cols, group_column=o.get("group_column"))

    def variables(self, fields: dict[str, Any]) -> dict[str, Any]:
        kind = self.options.get("document_kind") or "auto"
        kind = document_kind(fields["document"]) if kind == "auto" else str(kind)
        return {**super().variables(fields), "kind": kind}


TASKS.add(SummarizationTask())
