"""Operations on short lists: sort, pick the maximum, take the ends.

List answers are written "a, b, c"; parsing accepts any spacing around the commas (format noise),
but not brackets, "and", or extra words.
"""

from __future__ import annotations

import random
import re

from ils.tasks.procedural.base import INT, ListTask, ProceduralTask, procedural
from ils.tasks.procedural.words import ITEMS


def _numbers(rng: random.Random, lo: int, hi: int) -> list[int]:
    return rng.sample(range(1, 100), rng.randint(lo, hi))


def _join(items: list) -> str:
    return ", ".join(str(x) for x in items)


@procedural("sort_numbers")
class SortNumbers(ListTask):
    shape = re.compile(r"-?\d+(, -?\d+)*")
    templates = (
        "Sort these numbers from smallest to largest: {nums}",
        "Can you put {nums} in ascending order? Reply with the sorted list only, comma-separated.",
        "Arrange in increasing order: {nums}",
    )

    def make(self, rng: random.Random) -> tuple[dict, str]:
        nums = _numbers(rng, 3, 5)
        return {"nums": _join(nums)}, _join(sorted(nums))


@procedural("max_number")
class MaxNumber(ProceduralTask):
    shape = INT
    templates = (
        "Which is the largest number in this list: {nums}?",
        "Return the maximum of {nums}.",
        "What is the biggest of these numbers? {nums}\nAnswer with the number only.",
    )

    def make(self, rng: random.Random) -> tuple[dict, str]:
        nums = _numbers(rng, 3, 6)
        return {"nums": _join(nums)}, str(max(nums))


@procedural("first_last")
class FirstLast(ListTask):
    shape = re.compile(r"[\w-]+, [\w-]+")
    templates = (
        "What are the first and last items in this list: {items}? Answer as: first, last",
        "Give the first and the last item of: {items}",
        "List: {items}\nReturn the first item and the last item, separated by a comma.",
    )

    def make(self, rng: random.Random) -> tuple[dict, str]:
        items = rng.sample(ITEMS, rng.randint(3, 6))
        return {"items": _join(items)}, _join([items[0], items[-1]])
