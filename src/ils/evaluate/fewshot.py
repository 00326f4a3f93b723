"""Few-shot prompts: k solved examples from the train split as earlier chat turns, then the query.

Exemplars are drawn at random with a seed, or chosen by similarity to the query (TF-IDF cosine over
the instructions, scikit-learn), most similar placed last, next to the query. A prompt that would
not leave room for the answer in the model's context loses exemplars, least similar first; how many
each query kept is reported. No parameters change: this is prompt learning.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from ils.errors import EvalError
from ils.records import Example

STRATEGIES = ("random", "similar")


class FewShot:
    def __init__(self, pool: Sequence[Example], k: int, strategy: str = "random", seed: int = 0):
        if strategy not in STRATEGIES:
            raise EvalError(
                f"few-shot selection {strategy!r} is unknown; choose one of {', '.join(STRATEGIES)}"
            )
        if k > len(pool):
            raise EvalError(f"few-shot k={k} is larger than the train split ({len(pool)} records)")
        self.pool, self.k, self.strategy, self.seed = list(pool), k, strategy, seed

    def exemplars(self, queries: Sequence[Example]) -> list[list[Example]]:
        if self.k == 0:
            return [[] for _ in queries]
        if self.strategy == "random":
            rng = random.Random(self.seed)
            return [self._random(rng, q) for q in queries]
        return self._similar(queries)

    def _random(self, rng: random.Random, query: Example) -> list[Example]:
        picked = rng.sample(self.pool, min(len(self.pool), self.k + 1))
        return [ex for ex in picked if ex.instruction != query.instruction][: self.k]

    def _similar(self, queries: Sequence[Example]) -> list[list[Example]]:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.metrics.pairwise import linear_kernel

        vec = TfidfVectorizer().fit([ex.instruction for ex in self.pool])
        sims = linear_kernel(
            vec.transform([q.instruction for q in queries]),
            vec.transform([ex.instruction for ex in self.pool]),
        )
        out = []
        for q, row in zip(queries, sims):
            ranked = [i for i in row.argsort()[::-1] if self.pool[i].instruction != q.instruction][: self.k]
            out.append([self.pool[i] for i in reversed(ranked)])
        return out


def few_shot_chat(exemplars: Sequence[Example], query: Example) -> list[dict]:
    """The query's own system message first, then each exemplar as a user/assistant exchange."""
    msgs = query.prompt_messages
    system = [m for m in msgs[:1] if m["role"] == "system"]
    turns = [t for ex in exemplars for t in _exchange(ex)]
    return system + turns + msgs[len(system) :]


def _exchange(ex: Example) -> list[dict]:
    user = [m for m in ex.prompt_messages if m["role"] != "system"]
    return user + [{"role": "assistant", "content": ex.response}]


def fit_chat(
    exemplars: list[Example], query: Example, n_tokens: Callable[[list[dict]], int], budget: int
) -> tuple[list[dict], int]:
    """The few-shot chat with as many exemplars as fit ``budget`` tokens (dropping the first ones)."""
    shots = list(exemplars)
    chat = few_shot_chat(shots, query)
    while shots and n_tokens(chat) > budget:
        shots = shots[1:]
        chat = few_shot_chat(shots, query)
    return chat, len(shots)
