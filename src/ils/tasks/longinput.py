"""The long-input suite: real-text haystacks of any length with exact answers (after RULER's tasks).

A case is fully determined by (task, length, seed) and its pool of real paragraphs
(``ils.tasks.haystack``): the paragraphs come in a seeded order (a pool shorter than the case is
used again in a new order), needle sentences are worded one of several ways and slipped between two
sentences of a paragraph at a seeded depth, and decoys (other numbers, other keys, other names)
are scattered the same way. Paragraphs that mention what a case asks about are left out, so the
answer is in the text exactly where the case put it. Tasks:

- ``passkey``: one pass key among decoy codes; answer the number.
- ``kv``: many ``key → value`` pairs; answer the value of one key.
- ``count``: sentences mentioning an invented place, with decoys naming another; answer how many.
- ``vartrack``: a chain ``VAR A = 12345`` … ``VAR D = VAR C`` plus a decoy chain; answer every
  variable that ends up holding the value.
- ``qa``: a SQuAD dev question; its paragraph (with two neighbours either side) at a seeded depth
  among other articles' paragraphs; scored with SQuAD F1 against the gold answers.

    pool = load_pool("../shared/data").share("eval")
    case = make_case("passkey", 64_000, seed=0, pool=pool); case.write("passkey-64k.txt")
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from ils.errors import ConfigError
from ils.io import atomic_path
from ils.tasks.haystack import CHARS_PER_TOKEN, SENTENCE_END, Pool
from ils.tasks.procedural.words import COLORS

TASKS = ("passkey", "kv", "count", "vartrack", "qa")
PASSKEY = ("The pass key is {k}. Remember it.", "Remember this pass key: {k}.",
           "The passkey you will need later is {k}.", "Please note the pass key, which is {k}.",
           "Your pass key is {k}; keep it safe.", "Write down the pass key {k} before you go on.",
           "For the record, the pass key reads {k}.", "{k} is the pass key. Do not forget it.")
DECOYS = ("The locker number is {n}.", "The invoice number was {n}.", "Her ticket number is {n}.",
          "The room code is {n}.", "The order number is {n}.", "Call extension {n} for help.",
          "The parcel's tracking number is {n}.", "The serial number reads {n}.")
KV = ('The value of key "{k}" is {v}.', 'Key "{k}" has the value {v}.', 'For key "{k}", the value is {v}.',
      'The key "{k}" maps to {v}.', 'Record: key "{k}", value {v}.', 'Under the key "{k}" we store {v}.')
ANIMALS = ("falcon", "otter", "badger", "heron", "lynx", "marten", "ibis", "gecko")
PLACES = ("Velmora lighthouse", "Quastel bridge", "Orrindale mill", "Tessaly archive", "Brannoch orchard",
          "Ysolde observatory", "Corvane harbour", "Mirefield chapel")
COUNT = ("Someone mentioned the {t} again.", "A letter arrived about the {t}.", "The {t} was in the news that week.",
         "They walked past the {t} at dusk.", "Nobody could agree on what the {t} was for.",
         "A photo of the {t} hung in the hall.", "The path to the {t} was closed for repairs.")
VAR_SET = ("VAR {a} = {v}.", "Let VAR {a} = {v}.", "Set VAR {a} = {v} now.")
VAR_COPY = ("VAR {b} = VAR {a}.", "Then VAR {b} = VAR {a}.", "Let VAR {b} = VAR {a}.")


@dataclass
class Needle:
    depth: float  # 0..1 of the case's length
    text: str  # a sentence, or whole paragraphs (``block``) put between two paragraphs
    block: bool = False


@dataclass
class LongCase:
    task: str
    n_tokens: int
    seed: int
    instruction: str
    answer: Any
    kind: str  # the plan answer kind: value, number, list, span
    pool: Pool = field(repr=False)
    needles: list[Needle] = field(repr=False, default_factory=list)
    forbid: tuple[str, ...] = ()  # paragraphs mentioning any of these (case-insensitive) are left out
    exclude: str = ""  # paragraphs whose source starts with this are left out (qa: the gold article)
    gold_paragraph: str = ""  # qa: the paragraph that answers

    def paragraphs(self) -> Iterator[str]:
        """The document, one paragraph at a time (the same for the same case)."""
        return (text for _, text in self.stream())

    def sources(self) -> Iterator[str]:
        """Where each pool paragraph of the document came from (needles excluded)."""
        return (src for src, _ in self.stream() if src)

    def stream(self) -> Iterator[tuple[str, str]]:
        """(source, text) per paragraph; needles land where their depth falls."""
        rng = random.Random(f"haystack:{self.task}:{self.n_tokens}:{self.seed}")
        budget, written = int(self.n_tokens * CHARS_PER_TOKEN), 0
        pending = sorted(self.needles, key=lambda n: n.depth)
        for src, text in self._filler(rng):
            if written >= budget and not pending:
                return
            parts = None  # the paragraph's sentences, split once: an inserted needle is never split
            while pending and pending[0].depth * budget <= written + len(text):
                needle = pending.pop(0)
                if needle.block:
                    yield "", needle.text
                    written += len(needle.text) + 2
                else:
                    parts = parts or SENTENCE_END.split(text)
                    insert_sentence(rng, parts, needle.text)
            text = " ".join(parts) if parts else text
            written += len(text) + 2
            yield src, text

    def _filler(self, rng: random.Random) -> Iterator[tuple[str, str]]:
        """Pool paragraphs in a seeded order, again in a new order whenever the pool runs out."""
        banned = re.compile("|".join(map(re.escape, self.forbid)), re.IGNORECASE) if self.forbid else None
        items = self.pool.paragraphs
        usable = [i for i, p in enumerate(items)
                  if not (banned and banned.search(p.text)) and not (self.exclude and p.source.startswith(self.exclude))]
        if not usable:
            raise ConfigError(f"{self.pool.name}: every paragraph mentions what the {self.task} case asks about")
        while True:
            for i in rng.sample(usable, len(usable)):
                yield items[i].source, items[i].text

    def write(self, path: str | Path) -> Path:
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
            f.writelines(p + "\n\n" for p in self.paragraphs())
        return Path(path)

    def repeats(self) -> bool:
        """Whether the document is longer than its pool, so that paragraphs come back (in a new order)."""
        return self.n_tokens * CHARS_PER_TOKEN > self.pool.chars()

    def check(self, predicted: Any) -> bool:
        """Exact comparison with the gold answer (lists as sets, case-insensitive); qa is scored with
        SQuAD F1 by the caller (``ils.evaluate.metrics.squad``)."""
        if predicted is None:
            return False
        if self.kind == "list":
            items = predicted if isinstance(predicted, list) else re.split(r"[,\s]+", str(predicted))
            return {str(x).strip().lower() for x in items if str(x).strip()} == {a.lower() for a in self.answer}
        if self.task == "qa":
            return any(str(predicted).strip().lower() == a.lower() for a in self.answer)
        return str(predicted).strip().rstrip(".").replace(",", "") == str(self.answer)


def insert_sentence(rng: random.Random, parts: list[str], sentence: str) -> None:
    """Put the needle (one item, however many sentences) between two of a paragraph's sentences."""
    parts.insert(rng.randrange(len(parts) + 1), sentence)


def make_case(task: str, n_tokens: int, seed: int = 0, *, pool: Pool, questions: list | None = None) -> LongCase:
    """One case of ``task`` at about ``n_tokens`` tokens over ``pool`` (its eval share, normally);
    ``qa`` also needs SQuAD ``questions`` (see ``squad_questions``)."""
    if task not in TASKS:
        raise ConfigError(f"unknown long-input task '{task}'; known: {', '.join(TASKS)}")
    if n_tokens < 200:
        raise ConfigError(f"n_tokens must be at least 200, got {n_tokens}")
    if task == "qa" and not questions:
        raise ConfigError("the qa task needs SQuAD questions: give a data folder with squad_v1.1")
    rng = random.Random(f"case:{task}:{n_tokens}:{seed}")
    case = LongCase(task, n_tokens, seed, "", None, "value", pool)
    return _qa(rng, case, questions) if task == "qa" else globals()[f"_{task}"](rng, case)


def five_digits(rng: random.Random, n: int) -> list[str]:
    return [str(x) for x in rng.sample(range(10000, 100000), n)]


def _passkey(rng: random.Random, case: LongCase) -> LongCase:
    key, *others = five_digits(rng, 4)
    case.instruction, case.answer = "What is the pass key?", key
    case.needles = [Needle(rng.uniform(0.02, 0.98), rng.choice(PASSKEY).format(k=key))]
    case.needles += [Needle(rng.random(), t.format(n=n)) for t, n in zip(rng.sample(DECOYS, 3), others)]
    case.forbid = ("pass key", "passkey", "pass-key", key)
    return case


def kv_keys(rng: random.Random, n: int) -> list[str]:
    return rng.sample([f"{c}-{a}-{i}" for c in COLORS for a in ANIMALS for i in range(10)], n)


def _kv(rng: random.Random, case: LongCase) -> LongCase:
    n = max(4, min(64, case.n_tokens // 2000))
    keys, values = kv_keys(rng, n), five_digits(rng, n)
    case.needles = [Needle(rng.uniform(0.02, 0.98), rng.choice(KV).format(k=k, v=v)) for k, v in zip(keys, values)]
    q = rng.randrange(n)
    case.instruction, case.answer = f'What is the value of key "{keys[q]}"?', values[q]
    case.forbid = ('key "', *values)
    return case


def _count(rng: random.Random, case: LongCase) -> LongCase:
    place, decoy = rng.sample(PLACES, 2)
    k = rng.randint(3, 12)
    case.needles = [Needle(rng.uniform(0.01, 0.99), rng.choice(COUNT).format(t=place)) for _ in range(k)]
    case.needles += [Needle(rng.random(), rng.choice(COUNT).format(t=decoy)) for _ in range(rng.randint(2, 5))]
    case.instruction, case.answer, case.kind = f"How many sentences mention the {place}?", k, "number"
    case.forbid = (place.split()[0], decoy.split()[0])
    return case


def _vartrack(rng: random.Random, case: LongCase) -> LongCase:
    letters = rng.sample("ABCDEFGHJKLMNPQRSTUVWXYZ", 8)
    value, other = five_digits(rng, 2)
    chain, decoy = letters[:4], letters[4:]
    depths = sorted(rng.uniform(0.02, 0.98) for _ in range(8))
    case.needles = _assignments(rng, chain, value, depths[0::2]) + _assignments(rng, decoy, other, depths[1::2])
    case.instruction = f"Which variables hold the value {value}, directly or through other variables?"
    case.answer, case.kind, case.forbid = sorted(chain), "list", ("VAR ",)
    return case


def _assignments(rng: random.Random, names: list[str], value: str, depths: list[float]) -> list[Needle]:
    lines = [rng.choice(VAR_SET).format(a=names[0], v=value)]
    lines += [rng.choice(VAR_COPY).format(a=a, b=b) for a, b in pairwise(names)]
    return [Needle(d, t) for d, t in zip(depths, lines)]


def _qa(rng: random.Random, case: LongCase, questions: list[dict]) -> LongCase:
    q = rng.choice(questions)
    window = q["article"][max(0, q["index"] - 2): q["index"] + 3]
    case.needles = [Needle(rng.uniform(0.02, 0.98), "\n\n".join(window), block=True)]
    case.instruction, case.answer, case.kind = q["question"], q["answers"], "span"
    case.exclude, case.gold_paragraph = f"squad:{q['title']}:", q["article"][q["index"]]
    return case


def squad_questions(path: str | Path) -> list[dict]:
    """Every SQuAD v1.1 question: text, gold answers, its article's paragraphs and its paragraph's index."""
    path = Path(path)
    if path.is_dir():
        path = path / "squad_v1.1" / "dev-v1.1.json"
    if not path.is_file():
        raise ConfigError(f"{path}: SQuAD v1.1 dev file not found (the qa task needs it)")
    out = []
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
        paras = [p["context"].strip() for p in article["paragraphs"]]
        for i, p in enumerate(article["paragraphs"]):
            out += [{"question": qa["question"].strip(), "answers": [a["text"] for a in qa["answers"]],
                     "title": article["title"], "article": paras, "index": i} for qa in p["qas"]]
    return out


def suite(lengths: list[int], pool: Pool, tasks: tuple[str, ...] = TASKS, seeds: int = 5,
          questions: list | None = None) -> list[LongCase]:
    return [make_case(t, n, s, pool=pool, questions=questions) for n in lengths for t in tasks for s in range(seeds)]
