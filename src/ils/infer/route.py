"""Routing a plan step to the adapter whose task matches its instruction.

A step whose model is ``route`` goes to the adapter named after the task its prompt belongs to:
a small multinomial naive Bayes over words, trained on the registered tasks' templates (placeholders
removed), picks the task; if no adapter is named for it, the step uses ``default``. Pure Python: the
classifier is a few hundred word counts, not worth a dependency.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable

ROUTE = "route"
WORD = re.compile(r"[a-z]+")


def words(text: str) -> list[str]:
    return WORD.findall(re.sub(r"\{[^}]*\}", " ", text.lower()))


class TemplateRouter:
    """Naive Bayes over template words: ``predict(text)`` → the most likely task name."""

    def __init__(self, templates: dict[str, Iterable[str]]):
        self.counts = {task: Counter(w for t in ts for w in words(t)) for task, ts in templates.items()}
        self.vocab = set().union(*self.counts.values()) if self.counts else set()

    def scores(self, text: str) -> dict[str, float]:
        toks = [w for w in words(text) if w in self.vocab]
        out = {}
        for task, c in self.counts.items():
            total = sum(c.values()) + len(self.vocab)
            out[task] = sum(math.log((c[w] + 1) / total) for w in toks)
        return out

    def predict(self, text: str, among: Iterable[str] | None = None) -> str | None:
        scores = self.scores(text)
        allowed = [t for t in scores if among is None or t in set(among)]
        return max(allowed, key=lambda t: scores[t]) if allowed else None


def registry_templates() -> dict[str, list[str]]:
    """Every registered task that declares templates (procedural tasks do; others may)."""
    from ils.tasks import load_builtins

    tasks = load_builtins()
    return {name: [_template_text(t) for t in getattr(tasks.get(name), "templates", ())]
            for name in tasks.names() if getattr(tasks.get(name), "templates", ())}


def _template_text(template: object) -> str:
    """Procedural tasks keep templates as strings; data tasks as Template objects (input side)."""
    return template if isinstance(template, str) else str(getattr(template, "input", template))


def route(text: str, models: Iterable[str], router: TemplateRouter | None = None) -> str:
    """The model name for a routed step: an adapter named for the predicted task, else ``default``."""
    names = set(models)
    router = router or TemplateRouter(registry_templates())
    task = router.predict(text)
    return task if task in names else "default"
