"""Natural language inference: does the premise entail, contradict, or say nothing about the hypothesis?

Reads premise/hypothesis/label tables (SNLI/MNLI JSONL or TSV); numeric labels follow the
SNLI/MNLI convention 0 = entailment, 1 = neutral, 2 = contradiction unless a ``label_map`` says
otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from ils.errors import RecordError
from ils.tasks import TASKS
from ils.tasks.base import RawRecord
from ils.tasks.classification import ClassificationTask
from ils.tasks.readers import read_table
from ils.tasks.templates import Template

TEMPLATES = (
    Template("question", "Premise: {{ premise }}\nHypothesis: {{ hypothesis }}\n\nDoes the premise entail "
             "the hypothesis? Answer entailment, neutral or contradiction.", "{{ label }}", "question"),
    Template("command", "Decide whether the second sentence follows from the first. Reply with one of: "
             "{{ options }}.\n\n1. {{ premise }}\n2. {{ hypothesis }}", "{{ label }}", "command"),
    Template("options", "{{ premise }}\n\nBased on the text above, is it true that \"{{ hypothesis }}\"?"
             "\nOptions:\n{% for o in labels %}- {{ o }}\n{% endfor %}", "{{ label }}", "options"),
    Template("truth", "Suppose \"{{ premise }}\". Can we infer \"{{ hypothesis }}\"? Say entailment, "
             "neutral or contradiction.", "{{ label }}", "question"),
    Template("classify", "Classify the relation between the premise and the hypothesis ({{ options }})."
             "\n\nPremise: {{ premise }}\nHypothesis: {{ hypothesis }}", "{{ label }}", "command"),
    Template("inverted", "Write a sentence that stands in the relation \"{{ label }}\" to this premise:"
             "\n\n{{ premise }}", "{{ hypothesis }}", "inverted"),
)


class NLITask(ClassificationTask):
    name = "nli"
    input_fields = ("premise", "hypothesis")
    labels = ("entailment", "neutral", "contradiction")
    head = "none"  # a text pair: the sequence head reads single texts only
    templates = TEMPLATES
    options = {"premise_column": "premise", "hypothesis_column": "hypothesis", "label_column": "label",
               "label_map": {"0": "entailment", "1": "neutral", "2": "contradiction"}}

    def read(self, path: str | Path) -> Iterator[RawRecord | RecordError]:
        o = self.options
        cols = {"premise": o["premise_column"], "hypothesis": o["hypothesis_column"],
                "label": o["label_column"]}
        for rec in read_table(path, cols, group_column=o.get("group_column")):
            yield rec if isinstance(rec, RecordError) else self._check_label(rec)

    def dedup_text(self, fields: dict[str, Any]) -> str:
        return str(fields["hypothesis"])

    def dedup_scope(self, fields: dict[str, Any]) -> str:
        # Many hypotheses share one premise; they are duplicates only if the hypotheses are.
        return f"{fields['premise']}\x00{fields['label']}"


TASKS.add(NLITask())
