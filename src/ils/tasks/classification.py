"""Text classification over a closed label space; sentiment (SST-2 TSV) is a preset of it.

Labels are verbalized (``0`` → ``negative``) by a per-source ``label_map`` so that templates and
model outputs speak words, and the parser maps a free-text answer back onto the label space.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

from ils.errors import RecordError
from ils.tasks import TASKS
from ils.tasks.base import RawRecord, Task
from ils.tasks.readers import read_table
from ils.tasks.templates import Template

TEMPLATES = (
    Template("question", "What is the category of the following text? Answer with one of: {{ options }}."
             "\n\nText: {{ text }}", "{{ label }}", "question"),
    Template("command", "Classify this text into one of these categories: {{ options }}.\n\n{{ text }}",
             "{{ label }}", "command"),
    Template("options", "{{ text }}\n\nWhich label fits the text above?\nOptions:\n"
             "{% for o in labels %}- {{ o }}\n{% endfor %}", "{{ label }}", "options"),
    Template("short", "Text: {{ text }}\nLabel:", "{{ label }}", "command"),
    Template("assign", "Assign a label ({{ options }}) to the text below. Reply with the label only."
             "\n\n{{ text }}", "{{ label }}", "command"),
    Template("inverted", "Write a text that belongs to the category \"{{ label }}\".", "{{ text }}",
             "inverted"),
)


def match_label(text: str, labels: tuple[str, ...] | None) -> str:
    """The label a free-text answer names: an exact match first, else the first label mentioned."""
    clean = text.strip().strip(".!\"'").strip()
    if not labels:
        return clean
    by_lower = {lab.lower(): lab for lab in labels}
    if clean.lower() in by_lower:
        return by_lower[clean.lower()]
    hits = [(m.start(), lab) for lab in labels
            for m in [re.search(rf"\b{re.escape(lab.lower())}\b", clean.lower())] if m]
    return min(hits)[1] if hits else clean


class ClassificationTask(Task):
    name = "classification"
    metric = "accuracy"
    input_fields = ("text",)
    output = "label"
    head = "sequence"
    templates = TEMPLATES
    options = {"text_column": "text", "label_column": "label", "label_map": None}

    def parse(self, text: str) -> str:
        return match_label(text, self.labels)

    def read(self, path: str | Path) -> Iterator[RawRecord | RecordError]:
        o = self.options
        cols = {"text": o["text_column"], "label": o["label_column"]}
        for rec in read_table(path, cols, group_column=o.get("group_column")):
            yield rec if isinstance(rec, RecordError) else self._check_label(rec)

    def _check_label(self, rec: RawRecord) -> RawRecord | RecordError:
        raw = str(rec.fields["label"]).strip()
        label = str((self.options.get("label_map") or {}).get(raw, raw))
        if self.labels and label not in self.labels:
            return RecordError(rec.file, rec.line, self.options["label_column"],
                               f"unknown label '{raw}'; known: {', '.join(self.labels)}")
        rec.fields["label"] = label
        return rec

    def answer(self, fields: dict[str, Any]) -> str:
        return fields["label"]

    def head_input(self, ex: Any) -> dict[str, Any]:
        return {"text": self.fields(ex)["text"], "label": ex.answer}

    def label_of(self, fields: dict[str, Any]) -> str | None:
        return fields.get("label")

    def dedup_scope(self, fields: dict[str, Any]) -> str:
        return str(fields["label"])


SENTIMENT_TEMPLATES = (
    Template("question", "Is the sentiment of this movie review positive or negative?\n\n{{ text }}",
             "{{ label }}", "question"),
    Template("command", "Classify the sentiment of the following sentence as positive or negative."
             "\n\nSentence: {{ text }}", "{{ label }}", "command"),
    Template("options", "{{ text }}\n\nHow does the reviewer feel about the movie?\nOptions:\n"
             "{% for o in labels %}- {{ o }}\n{% endfor %}", "{{ label }}", "options"),
    Template("feel", "Review: {{ text }}\nDid the reviewer like the film? Answer positive or negative.",
             "{{ label }}", "question"),
    Template("label", "Label the sentiment ({{ options }}) of the text below. Reply with one word."
             "\n\n{{ text }}", "{{ label }}", "command"),
    Template("inverted", "Write a short {{ label }} sentence about a movie.", "{{ text }}", "inverted"),
)


class SentimentTask(ClassificationTask):
    name = "sentiment"
    labels = ("negative", "positive")
    templates = SENTIMENT_TEMPLATES
    options = {"text_column": "sentence", "label_column": "label",
               "label_map": {"0": "negative", "1": "positive"}}


TASKS.add(ClassificationTask())
TASKS.add(SentimentTask())
