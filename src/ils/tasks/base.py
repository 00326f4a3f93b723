"""The contract every task fulfils: parse generated text back into an answer, and name its metric."""

from __future__ import annotations

from typing import Any


class Task:
    """A task turns generated text into a structured answer that its metric compares with gold."""

    name: str = ""
    metric: str = "exact_match"

    def parse(self, text: str) -> Any:
        """Generated text → the answer form stored in ``Example.answer`` (default: stripped text)."""
        return text.strip()

    def check(self, pred_text: str, answer: Any) -> bool:
        """Exact match after parsing: the one comparison every exact-match task shares."""
        return self.parse(pred_text) == answer
