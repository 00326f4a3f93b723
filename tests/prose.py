"""Made-up prose for haystack tests: varied sentences with numbers, names and places of their own,
written to a text file the way a user would give one (no data folder needed)."""

from __future__ import annotations

import random
from pathlib import Path

NAMES = ("Mara", "Olek", "Sunniva", "Tobias", "Ines", "Raul", "Wen", "Beatrix", "Kofi", "Lena")
VERBS = ("sold", "counted", "carried", "painted", "repaired", "ordered", "described", "photographed")
THINGS = ("baskets of pears", "old bicycles", "maps of the coast", "wooden chairs", "letters", "lanterns")
WHERE = ("at the northern market", "near the river", "in the town hall", "behind the station", "on the hill")
WHEN = ("in 1998", "last spring", "on Tuesday", "after the storm", "before noon", "in March 2004")


def sentence(rng: random.Random) -> str:
    return (f"{rng.choice(NAMES)} {rng.choice(VERBS)} {rng.randint(2, 990)} {rng.choice(THINGS)} "
            f"{rng.choice(WHERE)} {rng.choice(WHEN)}.")


def write_prose(path: Path, paragraphs: int = 400, seed: int = 0) -> Path:
    rng = random.Random(seed)
    text = "\n\n".join(" ".join(sentence(rng) for _ in range(rng.randint(3, 7))) for _ in range(paragraphs))
    path.write_text(text + "\n", encoding="utf-8")
    return path


def prose_pool(folder: Path, paragraphs: int = 400, seed: int = 0):
    from ils.tasks.haystack import load_pool

    return load_pool(write_prose(folder / "prose.txt", paragraphs, seed))
