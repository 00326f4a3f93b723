"""Free-text answers (summaries, translations) that may have several references per record.

A source maps the answer field to one column or to a list of columns (``summary_column: [summary1,
summary2, summary3]``); the reader then gives the list of their non-empty values. The first reference
is the training target (what templates call ``{{ summary }}``; all of them are ``{{ summaries }}``);
the gold answer is the text when there is one reference and the list when there are several, and each
metric uses the list its own way (ROUGE: the best-scoring reference per record; BLEU: every reference,
corpus-level; exact match: any reference). Output with no letter or digit in it is unparseable.
"""

from __future__ import annotations

from typing import Any

from ils.tasks.answers import has_content
from ils.tasks.base import Task


class ReferenceAnswer(Task):
    """A task whose answer field (``answer_field``) holds one reference text or several."""

    answer_field = "summary"

    def references(self, value: Any) -> list[str]:
        """The reference texts of a field value or gold answer (a text or a list of texts)."""
        values = value if isinstance(value, (list, tuple)) else [value]
        return [str(v).strip() for v in values]

    def parse(self, text: str) -> str | None:
        text = text.strip()
        return text if has_content(text) else None

    def variables(self, fields: dict[str, Any]) -> dict[str, Any]:
        refs = self.references(fields[self.answer_field])
        plural = f"{self.answer_field}s"
        return {**super().variables(fields), self.answer_field: refs[0], plural: refs}

    def answer(self, fields: dict[str, Any]) -> str | list[str]:
        refs = self.references(fields[self.answer_field])
        return refs[0] if len(refs) == 1 else refs

    def correct(self, parsed: Any, gold: Any) -> bool:
        return parsed is not None and parsed in self.references(gold)

    def answer_text(self, answer: Any) -> str:
        return self.references(answer)[0]

    def roundtrip(self, reference: str, fields: dict[str, Any]) -> bool:
        """The target is the first reference (an empty one is the normalizer's to report)."""
        return reference.strip() == self.references(fields[self.answer_field])[0]
