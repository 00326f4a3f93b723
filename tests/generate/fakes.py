"""A scripted backend for the self-instruct tests: answers by prompt kind, no model."""

from __future__ import annotations

import json
import random
from pathlib import Path

from ils.generate.backends import Failed, Params

WORDS = ("river stone lamp orbit velvet harbor pencil meadow cipher falcon quartz lantern marble "
         "thunder willow copper garden saddle violin tundra ember glacier prism canyon").split()


def fresh_instruction(rng: random.Random, i: int) -> str:
    return f"Describe {' '.join(rng.sample(WORDS, 6))} number {i}."


class Scripted:
    """Each instruction prompt gets: 2 fresh tasks, 1 classification task, and 5 bad ones."""

    name = "scripted"

    def __init__(self, fail_every: int = 0):
        self.exhausted, self.calls, self.counter, self.fail_every = False, 0, 0, fail_every
        self.rng = random.Random(0)

    def generate(self, prompts, params: Params):
        return [self._one(p) for p in prompts]

    def _one(self, p: str):
        self.calls += 1
        if self.fail_every and self.calls % self.fail_every == 0:
            return Failed("endpoint failed after 4 attempts: HTTP 500")
        if p.startswith("Come up with a series of tasks"):
            self.counter += 1
            c = self.counter
            return (f" {fresh_instruction(self.rng, c)}\n10. Classify the sentiment of review {c} "
                    f"{' '.join(self.rng.sample(WORDS, 5))}.\n11. Draw a picture of a cat.\n12. Hi.\n"
                    f"13. What is the relation between the given pairs?\n14. ```code``` here\n"
                    f"15. Repeat constant {' '.join(self.rng.sample(WORDS, 6))} {c}.")
        if p.startswith("Rewrite the given task"):
            return f" {fresh_instruction(self.rng, 1000 + self.calls)} Use at most 50 words.\n\nNew task: more"
        if p.startswith("Can the following task"):
            return " Yes" if "Classify" in p.rsplit("Task:", 1)[1] else " No"
        task = p.rsplit("Task:", 1)[1]
        if p.startswith("Given the classification"):
            return " positive\nInput: I love it.\nClass label: negative\nInput: I hate it.\n\nTask: next"
        if "constant" in task:
            return " a\nOutput: same\nInput: b\nOutput: same"
        return " hello there\nOutput: General Kenobi.\nInput: foo\nOutput: bar\nInput: foo\nOutput: bar"


def seed_file(tmp: Path, bad: bool = False) -> Path:
    rows = [{"id": f"s{i}", "instruction": f"Summarize {' '.join(random.Random(i).sample(WORDS, 5))} briefly.",
             "instances": [{"input": f"text {i}", "output": f"summary {i}"}], "is_classification": i % 3 == 0}
            for i in range(12)]
    rows.append({"id": "rel", "instruction": "What is the relation between the given pairs?",
                 "instances": [{"input": "Night : Day", "output": "opposites"}], "is_classification": False})
    lines = [json.dumps(r) for r in rows]
    if bad:
        lines += ["{not json", json.dumps({"instruction": "", "instances": []}),
                  json.dumps({"instruction": "Do it well.", "instances": [{"input": "x"}]})]
    path = tmp / "seeds.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path
