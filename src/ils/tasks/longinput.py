"""The long-input suite: synthetic documents of any length with exact answers (like RULER's tasks).

Each case is fully determined by (task, length, seed) and its text is regenerated as a stream of
paragraphs, so a 1M-token document is never held in memory. Filler is varied everyday prose that
never contains the needles' words. Tasks:

- ``passkey``: one pass key hidden in the filler; answer the number.
- ``kv``: many ``key → value`` facts; answer the value of one key.
- ``count``: sentences about apples scattered through; answer how many mention "apple".
- ``vartrack``: a chain ``VAR A = 12345`` … ``VAR D = VAR C`` spread over the text, plus a distractor
  chain; answer every variable that ends up holding the value.

    case = make_case("passkey", n_tokens=64_000, seed=0); case.write("passkey-64k.txt")
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ils.errors import ConfigError
from ils.io import atomic_path
from ils.tasks.procedural.words import CITIES, COLORS, NAMES

CHARS_PER_TOKEN = 4.3  # SmolLM2's tokenizer on this filler (measured); lengths are approximate
PARAGRAPH = 5
PLACES = ("market", "library", "station", "harbor", "garden", "bakery", "museum", "school", "bridge")
ACTS = ("walked to the {p} in {c}", "met a friend near the {p}", "painted the {p} {col}",
        "wrote a letter about the {p}", "waited for the bus by the {p}", "read a book at the {p}",
        "sold {col} flowers at the {p}", "took a photo of the {p} in {c}")
TAILS = ("before lunch", "in the evening", "after the rain", "on a quiet morning", "with great care",
         "for the first time", "without a word", "as the clock struck nine")
ANIMALS = ("falcon", "otter", "badger", "heron", "lynx", "marten", "ibis", "gecko")
TASKS = ("passkey", "kv", "count", "vartrack")


@dataclass
class LongCase:
    task: str
    n_tokens: int
    seed: int
    instruction: str
    answer: Any
    kind: str  # the plan answer kind: value, number, list
    needles: list[tuple[float, str]] = field(repr=False, default_factory=list)  # (depth 0..1, sentence)

    def paragraphs(self) -> Iterator[str]:
        """The document, one paragraph at a time (the same for the same case)."""
        rng = random.Random(f"filler:{self.seed}:{self.task}")
        budget = int(self.n_tokens * CHARS_PER_TOKEN)
        pending = sorted(self.needles)
        written = 0
        while written < budget or pending:
            sentences = [_filler(rng) for _ in range(PARAGRAPH)]
            while pending and pending[0][0] * budget <= written + sum(map(len, sentences)):
                sentences.insert(rng.randrange(len(sentences) + 1), pending.pop(0)[1])
            text = " ".join(sentences)
            written += len(text) + 2
            yield text

    def write(self, path: str | Path) -> Path:
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
            f.writelines(p + "\n\n" for p in self.paragraphs())
        return Path(path)

    def check(self, predicted: Any) -> bool:
        """Exact comparison with the gold answer (lists as sets, case-insensitive)."""
        if predicted is None:
            return False
        if self.kind == "list":
            items = predicted if isinstance(predicted, list) else re.split(r"[,\s]+", str(predicted))
            return {str(x).strip().lower() for x in items if str(x).strip()} == {a.lower() for a in self.answer}
        return str(predicted).strip().rstrip(".") == str(self.answer)


def _filler(rng: random.Random) -> str:
    act = rng.choice(ACTS).format(p=rng.choice(PLACES), c=rng.choice(CITIES), col=rng.choice(COLORS))
    return f"{rng.choice(NAMES)} {act} {rng.choice(TAILS)}."


def make_case(task: str, n_tokens: int, seed: int = 0) -> LongCase:
    """One case of ``task`` at about ``n_tokens`` tokens; the same (task, length, seed), the same case."""
    if task not in TASKS:
        raise ConfigError(f"unknown long-input task '{task}'; known: {', '.join(TASKS)}")
    if n_tokens < 200:
        raise ConfigError(f"n_tokens must be at least 200, got {n_tokens}")
    rng = random.Random(f"case:{task}:{n_tokens}:{seed}")
    return globals()[f"_{task}"](rng, LongCase(task, n_tokens, seed, "", None, "value"))


def _passkey(rng: random.Random, case: LongCase) -> LongCase:
    key = str(rng.randint(10000, 99999))
    case.instruction, case.answer = "What is the pass key?", key
    case.needles = [(rng.uniform(0.05, 0.95), f"The pass key is {key}. Remember it. {key} is the pass key.")]
    return case


def _kv(rng: random.Random, case: LongCase) -> LongCase:
    n = max(4, min(64, case.n_tokens // 2000))
    keys = rng.sample([f"{c}-{a}-{i}" for c in COLORS for a in ANIMALS for i in range(10)], n)
    values = [str(rng.randint(10000, 99999)) for _ in keys]
    case.needles = [(rng.uniform(0.02, 0.98), f'The value of key "{k}" is {v}.') for k, v in zip(keys, values)]
    q = rng.randrange(n)
    case.instruction, case.answer = f'What is the value of key "{keys[q]}"?', values[q]
    return case


def _count(rng: random.Random, case: LongCase) -> LongCase:
    k = rng.randint(3, 12)
    case.needles = [(rng.uniform(0.01, 0.99), f"{rng.choice(NAMES)} ate a green apple.") for _ in range(k)]
    case.instruction, case.answer, case.kind = 'How many sentences mention an apple?', k, "number"
    return case


def _vartrack(rng: random.Random, case: LongCase) -> LongCase:
    letters = rng.sample("ABCDEFGHJKLMNPQRSTUVWXYZ", 8)
    value, other = rng.sample(range(10000, 99999), 2)
    chain, distractor = letters[:4], letters[4:]
    depths = sorted(rng.uniform(0.02, 0.98) for _ in range(8))
    case.needles = _assignments(chain, value, depths[0::2]) + _assignments(distractor, other, depths[1::2])
    case.instruction = f"Which variables hold the value {value}, directly or through other variables?"
    case.answer, case.kind = sorted(chain), "list"
    return case


def _assignments(names: list[str], value: int, depths: list[float]) -> list[tuple[float, str]]:
    lines = [f"VAR {names[0]} = {value}."] + [f"VAR {b} = VAR {a}." for a, b in zip(names, names[1:])]
    return list(zip(depths, lines))


def suite(lengths: list[int], tasks: tuple[str, ...] = TASKS, seeds: int = 1) -> list[LongCase]:
    return [make_case(t, n, s) for n in lengths for t in tasks for s in range(seeds)]
