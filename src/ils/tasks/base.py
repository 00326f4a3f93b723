"""The contract every task fulfils: parse generated text back into an answer, and name its metric.

A data task (one built from raw labelled data) also declares its input fields, its label space or
output shape, its templates and a reader for its usual raw format; ``ils.data.build`` needs nothing
else from it. A task an encoder can learn names its head kind (``token``, ``sequence``, ``span``, …;
one per file in ``ils.models.heads``) and converts between its records and that head: the head's
input from an ``Example`` (``head_input``) and the head's output back into the task's answer form
(``from_head``), so both model kinds are scored by the same evaluator and metric. Everything beyond
``name``/``metric``/``parse`` has a default, so a task that only parses (a procedural task, say)
stays three lines.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ils.errors import ConfigError, RecordError
from ils.tasks.templates import Template


@dataclass
class RawRecord:
    """One record of raw task data, before any template: its fields and where it came from."""

    fields: dict[str, Any]
    file: str
    line: int | None
    group: str | None = None
    ref: str | None = None  # a record id where lines mean nothing (one SQuAD JSON holds thousands)

    @property
    def where(self) -> str:
        place = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{place}#{self.ref}" if self.ref else place


class Task:
    """A task turns generated text into a structured answer that its metric compares with gold.

    Contract for evaluation:
    - ``parse(text)`` returns the answer in the form stored in ``Example.answer``, or ``None`` when
      the text cannot be read as an answer. ``None`` means *unparseable*: the evaluator counts and
      shows it and scores it as wrong; it is never turned into a class.
    - ``options``: for a closed answer set (classification, NLI, multiple choice), the texts a model
      should answer with, in the form ``parse`` accepts (``("negative", "positive")``). When set, the
      evaluator also scores by likelihood: the log-probability of each option after the prompt.
      Empty for open-ended tasks.
    """

    name: str = ""
    metric: str = "exact_match"
    input_fields: tuple[str, ...] = ()
    output: str = "text"  # label | spans | span | summary | translation | reply | code | text
    labels: tuple[str, ...] | None = None
    templates: tuple[Template, ...] = ()
    options: dict[str, Any] = {}  # per-source reader options (columns, label maps)
    choices: tuple[str, ...] = ()  # a closed answer set, as generated text (likelihood scoring)
    head: str = "none"  # the encoder head kind that learns this task (a name in ils.models.heads)
    # What the generated task reference (docs/tasks.md, ``ils data tasks``) says about a data task:
    about: str = ""  # one line: what the task is
    answer_doc: str = ""  # the shape of ``Example.answer``
    option_help: dict[str, str] = {}  # one line per reader option
    example: dict[str, Any] = {}  # {"file": name, "content": raw text, "options": {...}}: a worked case

    def parse(self, text: str) -> Any:
        """Generated text → the answer form stored in ``Example.answer`` (default: stripped text)."""
        return text.strip()

    def correct(self, parsed: Any, gold: Any) -> bool:
        """Is a parsed answer right? Exact equality unless the answer form carries more than a
        parse gives back (NER gold spans carry token offsets; QA gold lists every reference)."""
        return parsed is not None and parsed == gold

    def check(self, text: str, gold: Any) -> bool:
        """Does generated ``text`` parse to a correct answer?"""
        return self.correct(self.parse(text), gold)

    def compute(self, predictions: list[Any], references: list[Any]) -> dict | None:
        """A task's own official scorer, when it has one; None: the metric family ``metric`` scores."""
        return None

    def answer_text(self, answer: Any) -> str:
        """An answer as the text a model would write (how an encoder's answer is shown)."""
        return str(answer)

    # ------------------------------------------------------------ encoder heads (optional)

    def head_input(self, ex: Any) -> dict[str, Any]:
        """What the head kind ``head`` reads from one record (its answer and ``meta["fields"]``)."""
        raise ConfigError(f"task '{self.name}' has no encoder head (Task.head is 'none')")

    def from_head(self, output: Any, ex: Any) -> Any:
        """The head's output for one record → the answer form of ``Example.answer``."""
        return output

    @staticmethod
    def fields(ex: Any) -> dict[str, Any]:
        """The raw-record fields ``ils data build`` keeps in ``meta``; a record without them says so."""
        fields = (ex.meta or {}).get("fields")
        if not isinstance(fields, dict):
            where = ex.source or ex.id or "a record"
            raise RecordError(where, None, "meta.fields", "missing: an encoder head reads the source fields "
                              "that `ils data build` keeps in meta; build the data with it")
        return fields

    def answer_choices(self) -> tuple[str, ...]:
        """The closed answer set: explicit ``choices``, else the labels of a label-output task."""
        return self.choices or (tuple(self.labels) if self.output == "label" and self.labels else ())

    def option_answers(self) -> list[Any]:
        """The parsed answer of each choice (what likelihood scoring predicts when that choice wins)."""
        return [self.parse(o) for o in self.answer_choices()]

    # ------------------------------------------------------------ data tasks (all optional)

    def configure(self, **options: Any) -> "Task":
        """A copy with per-source options (column names, label maps, label space) applied."""
        task = copy.copy(self)
        task.options = {**self.options, **options}
        if options.get("labels") is not None:
            task.labels = tuple(str(x) for x in options["labels"])
        return task

    def known_options(self) -> set[str]:
        """Every option a build config may set for this task (``labels`` where answers use a label set)."""
        return {*self.options, *(("labels",) if self.output in ("label", "spans") else ())}

    def read(self, path: str | Path) -> Iterator[RawRecord | RecordError]:
        """Yield raw records of the task's usual format; a bad record is yielded as its error."""
        raise ConfigError(f"task '{self.name}' has no reader for raw files; give it Example records")

    def variables(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Everything a template may use: the fields plus derived ones (option lists, …)."""
        return {**fields, "labels": list(self.labels or ()), "options": ", ".join(self.labels or ())}

    def answer(self, fields: dict[str, Any]) -> Any:
        """The structured gold answer stored in ``Example.answer``."""
        return fields.get("output")

    def label_of(self, fields: dict[str, Any]) -> str | None:
        """The label to stratify splits by (None when the task has no label space)."""
        return None

    def dedup_text(self, fields: dict[str, Any]) -> str:
        """The text near-duplicates are compared on (the part that varies between records)."""
        return " ".join(str(fields[f]) for f in self.input_fields if fields.get(f))

    def dedup_scope(self, fields: dict[str, Any]) -> str:
        """Records are near-duplicates only within one scope (e.g. one QA context and answer).

        Tasks with a short answer put it in the scope: two near-identical inputs with different
        answers are a contrastive pair worth keeping, not a duplicate.
        """
        return ""

    def input_text(self, fields: dict[str, Any]) -> str:
        """All input text, for decontamination against evaluation sets."""
        return " ".join(str(fields[f]) for f in self.input_fields if fields.get(f))

    def roundtrip(self, reference: str, fields: dict[str, Any]) -> bool:
        """Does parsing the reference output give back the gold answer exactly?"""
        return self.parse(reference) == self.answer(fields)

    def conversation(self, system: str | None, user: str, target: str,
                     fields: dict[str, Any]) -> list[dict[str, str]]:
        """The messages of one record (dialogue puts the middle turns in between)."""
        msgs = [{"role": "system", "content": system}] if system else []
        return msgs + [{"role": "user", "content": user}, {"role": "assistant", "content": target}]

    def template(self, name: str) -> Template:
        for t in self.templates:
            if t.name == name:
                return t
        known = ", ".join(t.name for t in self.templates)
        raise KeyError(f"task '{self.name}' has no template '{name}'; known: {known}")
