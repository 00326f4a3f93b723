"""The contract every task fulfils: parse generated text back into an answer, and name its metric."""

from __future__ import annotations

from typing import Any


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
    options: tuple[str, ...] = ()

    def parse(self, text: str) -> Any:
        """Generated text → the answer form stored in ``Example.answer`` (default: stripped text)."""
        return text.strip()

    def check(self, pred_text: str, answer: Any) -> bool:
        """Exact match after parsing: the one comparison every exact-match task shares."""
        return self.parse(pred_text) == answer

    def option_answers(self) -> list[Any]:
        """The parsed answer of each option (what likelihood scoring predicts when that option wins)."""
        return [self.parse(o) for o in self.options]
