"""What every procedural task shares: phrasings, sampling one Example, and strict parsing.

A procedural task makes its inputs with code from a ``random.Random``, so its supply is unlimited,
it needs no external data, and its gold answer is exact. Parsing is strict on purpose: it forgives
only surface noise (surrounding whitespace, one pair of quotes or backticks, a trailing period),
never verbosity. "The answer is 42." does not parse to "42": a model scores only once it has
learned to answer in the task's concise form, which is what tuning should show. An answer without the
task's form (``shape``: digits for a number, one line for a phrase) is unparseable, not merely wrong.
"""

from __future__ import annotations

import random
import re
from abc import ABC, abstractmethod
from typing import Any

from ils.records import Example
from ils.tasks import TASKS
from ils.tasks.base import Task

QUOTES = ('"', "'", "`")
INT = re.compile(r"-?\d+")  # the answer of a counting or arithmetic task: digits, nothing else

def normalize(text: str) -> str:
    """Strip whitespace, a trailing period and one pair of surrounding quotes/backticks; no more."""
    s = _drop_period(text.strip())
    if len(s) >= 2 and s[0] == s[-1] and s[0] in QUOTES:
        s = _drop_period(s[1:-1].strip())
    return s


def _drop_period(s: str) -> str:
    return s[:-1].rstrip() if s.endswith(".") and not s.endswith("..") else s


def normalize_list(text: str) -> str:
    """A comma-separated list in canonical form: items stripped, joined by ", "."""
    return ", ".join(item.strip() for item in normalize(text).split(","))


def procedural(name: str):
    """Name the decorated class and register one instance of it in ``TASKS``."""

    def decorator(cls: type[ProceduralTask]) -> type[ProceduralTask]:
        cls.name = name
        TASKS.add(cls())
        return cls

    return decorator


def procedural_tasks() -> dict[str, "ProceduralTask"]:
    """name -> task, for every registered procedural task (``TASKS`` holds other kinds too)."""
    return {n: t for n in TASKS.names() if isinstance(t := TASKS.get(n), ProceduralTask)}


class ProceduralTask(Task, ABC):
    """One code-made task: ``make`` draws inputs and the gold answer, a template phrases them."""

    metric = "exact_match"
    #: phrasings, ``str.format`` strings over the fields ``make`` returns; some questions, some commands
    templates: tuple[str, ...] = ()

    @abstractmethod
    def make(self, rng: random.Random) -> tuple[dict[str, Any], Any]:
        """Draw one instance: (template fields, gold answer)."""

    def render(self, answer: Any) -> str:
        """The reference assistant output for a gold answer (the concise form ``parse`` accepts)."""
        return str(answer)

    #: the form a normalized answer must have (fullmatch), else it is unparseable; one line by default
    shape: re.Pattern[str] = re.compile(r"[^\n]*\w[^\n]*")

    def parse(self, text: str) -> Any:
        answer = normalize(text)
        return answer if self.shape.fullmatch(answer) else None

    def sample(self, rng: random.Random) -> Example:
        fields, answer = self.make(rng)
        k = rng.randrange(len(self.templates))
        prompt = self.templates[k].format(**fields)
        return Example.from_alpaca(prompt, "", self.render(answer), task=self.name,
                                   template=f"{self.name}/{k}", answer=answer,
                                   source=f"procedural:{self.name}")


class ListTask(ProceduralTask):
    """A task whose answer is a comma-separated list; spacing around commas does not matter."""

    def parse(self, text: str) -> str | None:
        answer = normalize_list(text)
        return answer if self.shape.fullmatch(answer) else None
