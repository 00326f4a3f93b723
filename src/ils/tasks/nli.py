"""Natural language inference: does the premise entail, contradict, or say nothing about the hypothesis?

Reads premise/hypothesis/label tables (SNLI/MNLI JSONL or TSV); numeric labels follow the
SNLI/MNLI convention 0 = entailment, 1 = neutral, 2 = contradiction unless a ``label_map`` says
otherwise. An encoder learns it with the sequence head on the sentence pair (the tokenizer's pair
encoding: ``[CLS] premise [SEP] hypothesis [SEP]``), from the same records, no template text.
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

FORMS = {"entailment": ("entails", "entail", "entailed", "follows"),
         "contradiction": ("contradicts", "contradict", "contradicted", "contradictory"),
         "neutral": ("undetermined", "cannot be determined", "unrelated")}

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
    head = "sequence"  # the pair (premise, hypothesis), encoded as the tokenizer encodes sentence pairs
    templates = TEMPLATES
    options = {"premise_column": "premise", "hypothesis_column": "hypothesis", "label_column": "label",
               "label_map": {"0": "entailment", "1": "neutral", "2": "contradiction"},
               "label_forms": FORMS, "group_column": None}
    about = "Natural language inference: does the premise entail, contradict or say nothing about the hypothesis?"
    answer_doc = "entailment, neutral or contradiction"
    option_help = {
        "premise_column": "the column holding the premise (SNLI/MNLI JSONL: sentence1)",
        "hypothesis_column": "the column holding the hypothesis (SNLI/MNLI JSONL: sentence2)",
        "label_column": "the column holding the label (SNLI/MNLI JSONL: gold_label)",
        "label_map": "raw label → label word; default 0/1/2 → entailment/neutral/contradiction",
        "labels": "the label space (default: entailment, neutral, contradiction)",
        "label_forms": "other words that name a label in a model's answer (default: entails, "
                       "contradicts, ...)",
        "group_column": "records with the same value here stay in one split (SNLI: captionID, so the "
                        "hypotheses of one premise are never split)",
    }
    example = {
        "file": "snli_train.jsonl",
        "content": '{"sentence1": "A man inspects a uniform.", "sentence2": "The man is sleeping.", '
                   '"gold_label": "contradiction", "captionID": "3416050480.jpg#4"}\n'
                   '{"sentence1": "Two women are embracing.", "sentence2": "Two women are holding '
                   'each other.", "gold_label": "entailment", "captionID": "514.jpg#1"}\n',
        "options": {"premise_column": "sentence1", "hypothesis_column": "sentence2",
                    "label_column": "gold_label", "group_column": "captionID"},
        "note": "SNLI marks pairs without annotator agreement with gold_label '-': drop them with "
                "`ils data build --skip-invalid` (each is listed in manifest.json).",
    }

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
