"""Text classification over a closed label space; sentiment (SST-2 TSV) is a preset of it.

Labels are verbalized (``0`` → ``negative``) by a per-source ``label_map`` so that templates and
model outputs speak words, and the parser maps a free-text answer back onto the label space.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from ils.errors import RecordError
from ils.tasks import TASKS
from ils.tasks.answers import match_label
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


class ClassificationTask(Task):
    name = "classification"
    metric = "accuracy"
    input_fields = ("text",)
    output = "label"
    head = "sequence"
    templates = TEMPLATES
    options = {"text_column": "text", "label_column": "label", "label_map": None, "label_forms": None,
               "group_column": None}
    about = "Put a text into one class of a closed label set (topic, intent, sentiment, ...)."
    answer_doc = "the label (a string of the label space)"
    option_help = {
        "text_column": "the column holding the text",
        "label_column": "the column holding the label",
        "label_map": "raw label → label word, e.g. {0: negative, 1: positive}; other values stay as they are",
        "labels": "the label space, e.g. [business, sports, science]; a record with another label is an "
                  "error (default: the task's own, or any label)",
        "label_forms": "other words that name a label in a model's answer, e.g. {sports: [sport, "
                       "athletics]} (the label itself always counts)",
        "group_column": "records with the same value here stay in one split (e.g. a document id)",
    }
    example = {
        "file": "topics.csv",
        "content": "headline,topic\nStocks rally as rates hold,business\nUnited win the cup final,sports\n",
        "options": {"text_column": "headline", "label_column": "topic",
                    "labels": ["business", "sports", "science"]},
    }

    def parse(self, text: str) -> str | None:
        return match_label(text, self.labels, self.options.get("label_forms"))

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
                               f"unknown label '{raw}'; known: {', '.join(self.labels)} (map raw values "
                               "with `label_map:` or set `labels:` in the source's options)")
        rec.fields["label"] = label
        return rec

    def answer(self, fields: dict[str, Any]) -> str:
        return fields["label"]

    def head_input(self, ex: Any) -> dict[str, Any]:
        """The text, and for a two-field task (NLI) the second text: the tokenizer's pair encoding."""
        fields = self.fields(ex)
        first, *rest = self.input_fields
        out = {"text": fields[first], "label": ex.answer}
        if rest:
            out["text_pair"] = fields[rest[0]]
        return out

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
               "label_map": {"0": "negative", "1": "positive"}, "label_forms": None, "group_column": None}
    about = "Binary sentiment of a sentence (SST-2's TSV by default): negative or positive."
    answer_doc = "negative or positive"
    example = {
        "file": "sst2_train.tsv",
        "content": "sentence\tlabel\nhide new secretions from the parental units \t0\n"
                   "the greatest musicians \t1\n",
        "options": {},
    }


TASKS.add(ClassificationTask())
TASKS.add(SentimentTask())
