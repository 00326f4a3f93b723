"""Training examples for the chunk adapter: the map step of the long-input plans, on real-text chunks.

Each example is one chunk as the map step sees it (paragraphs of the pool's ``train`` share packed
to about a chunk's length) and the answer the step should give. Three kinds, so the adapter learns
neither "always NONE" nor "the number in the chunk": positives (the needle, often beside decoys),
hard negatives (decoy codes or other keys' values, but not what is asked: answer NONE) and plain
negatives (real text, whose own numbers are negatives too). Paragraphs come only from the ``train``
share, a partition of the pool by text, so no evaluation haystack paragraph is ever trained on;
``chunk_examples`` checks every paragraph it uses against the ``eval`` share all the same.

The map prompt is the caller's (``prompt(chunk, instruction, kind)``), so the adapter learns the
layout the plan sends, and ``count`` is the model's token counter.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from ils.errors import ConfigError
from ils.records import Example
from ils.tasks.haystack import SENTENCE_END, Pool, text_key
from ils.tasks.longinput import COUNT, DECOYS, KV, PASSKEY, PLACES, five_digits, insert_sentence, kv_keys

Prompt = Callable[[str, str, str], str]
MIX = {"passkey": 0.4, "kv": 0.4, "count": 0.2}
SHAPES = {"positive": 0.45, "hard": 0.35, "plain": 0.2}


def chunk_examples(pool: Pool, n: int, chunk_tokens: int, count: Callable[[str], int], prompt: Prompt,
                   seed: int = 0) -> list[Example]:
    """``n`` map-step examples over the ``train`` share of ``pool`` (the whole pool, not a share)."""
    train, evaluation = pool.share("train"), pool.share("eval").keys()
    rng, out = random.Random(f"chunks:{seed}"), []
    while len(out) < n:
        task = rng.choices(list(MIX), weights=list(MIX.values()))[0]
        shape = rng.choices(list(SHAPES), weights=list(SHAPES.values()))[0]
        paras = _paragraphs(rng, train, rng.randint(chunk_tokens // 2, chunk_tokens - 64), count)
        if any(text_key(p.text) in evaluation for p in paras):
            raise ConfigError(f"{pool.name}: a training chunk would reuse an evaluation paragraph")
        instruction, kind, answer, texts = globals()[f"_{task}"](rng, shape, [p.text for p in paras])
        out.append(Example.from_alpaca(prompt("\n\n".join(texts), instruction, kind), "", answer,
                                       task=f"long_{task}", answer=answer, source=f"longtrain:{task}:{shape}",
                                       meta={"paragraphs": [p.source for p in paras], "shape": shape}))
    return out


def _paragraphs(rng: random.Random, pool: Pool, tokens: int, count: Callable[[str], int]) -> list:
    """Consecutive paragraphs of a random stretch of the pool, about ``tokens`` long (at least one)."""
    start, used, out = rng.randrange(len(pool.paragraphs)), 0, []
    for k in range(len(pool.paragraphs)):
        p = pool.paragraphs[(start + k) % len(pool.paragraphs)]
        n = count(p.text)
        if out and used + n > tokens:
            break
        out.append(p)
        used += n
    return out


def _scatter(rng: random.Random, texts: list[str], needles: list[str]) -> list[str]:
    """Each needle between two sentences of a random paragraph (needles are never split apart)."""
    parts = [SENTENCE_END.split(t) for t in texts]
    for needle in needles:
        insert_sentence(rng, parts[rng.randrange(len(parts))], needle)
    return [" ".join(p) for p in parts]


def _passkey(rng: random.Random, shape: str, texts: list[str]) -> tuple[str, str, str, list[str]]:
    key, *others = five_digits(rng, 4)
    decoys = [t.format(n=n) for t, n in zip(rng.sample(DECOYS, 3), others)][: 0 if shape == "plain" else rng.randint(1, 3)]
    needles = [rng.choice(PASSKEY).format(k=key)] if shape == "positive" else []
    return "What is the pass key?", "value", key if needles else "NONE", _scatter(rng, texts, needles + decoys)


def _kv(rng: random.Random, shape: str, texts: list[str]) -> tuple[str, str, str, list[str]]:
    keys, values = kv_keys(rng, 4), five_digits(rng, 4)
    pairs = [rng.choice(KV).format(k=k, v=v) for k, v in zip(keys[1:], values[1:])]
    pairs = pairs[: 0 if shape == "plain" else rng.randint(1, 3)]
    needles = [rng.choice(KV).format(k=keys[0], v=values[0])] if shape == "positive" else []
    question = f'What is the value of key "{keys[0]}"?'
    return question, "value", values[0] if needles else "NONE", _scatter(rng, texts, needles + pairs)


def _count(rng: random.Random, shape: str, texts: list[str]) -> tuple[str, str, str, list[str]]:
    place, decoy = rng.sample(PLACES, 2)
    k = rng.randint(1, 4) if shape == "positive" else 0
    decoys = [rng.choice(COUNT).format(t=decoy) for _ in range(0 if shape == "plain" else rng.randint(1, 2))]
    needles = [rng.choice(COUNT).format(t=place) for _ in range(k)]
    return f"How many sentences mention the {place}?", "number", str(k), _scatter(rng, texts, needles + decoys)
