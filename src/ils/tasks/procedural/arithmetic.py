"""Arithmetic on small whole numbers: the answer is one number, written in digits.

Operands stay at two digits (or a small factor) so a 135M model can learn the skill in a few
hundred steps, while zero-shot it still answers many of them wrongly or at length.
"""

from __future__ import annotations

import random

from ils.tasks.procedural.base import INT, ProceduralTask, procedural


@procedural("add")
class Add(ProceduralTask):
    shape = INT
    templates = (
        "What is {a} + {b}?",
        "Add {a} and {b}. Reply with the number only.",
        "Compute the sum of {a} and {b}.",
        "{a} plus {b} equals what? Give just the number.",
    )

    def make(self, rng: random.Random) -> tuple[dict, str]:
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        return {"a": a, "b": b}, str(a + b)


@procedural("subtract")
class Subtract(ProceduralTask):
    shape = INT
    templates = (
        "What is {a} - {b}?",
        "Subtract {b} from {a}.",
        "How much is {a} minus {b}? Answer with the number only.",
    )

    def make(self, rng: random.Random) -> tuple[dict, str]:
        a = rng.randint(10, 99)
        b = rng.randint(1, a)
        return {"a": a, "b": b}, str(a - b)


@procedural("multiply")
class Multiply(ProceduralTask):
    shape = INT
    templates = (
        "What is {a} times {b}?",
        "Multiply {a} by {b}. Reply with only the result.",
        "Calculate {a} * {b}.",
    )

    def make(self, rng: random.Random) -> tuple[dict, str]:
        a, b = rng.randint(2, 12), rng.randint(2, 25)
        return {"a": a, "b": b}, str(a * b)
