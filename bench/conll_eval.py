"""CoNLL-2003 test: zero-shot vs few-shot entity F1 with the default model, on a seeded subsample.

One fixed prompt (registered as ``bench_conll`` at run time), unlike the ``ner`` task's templates
that configs/conll-smollm2.yaml trains and scores with. The model lists
entities one per line as ``TYPE: text`` (or ``NONE``); answers are ``[type, text]`` spans scored by
seqeval through the ``entity_f1`` metric. Output that has neither form is unparseable. Run:

    PYTHONPATH=src nice -n 10 python bench/conll_eval.py -o bench-out/conll --n 100 --modes zero-shot,few-shot:4
"""

from __future__ import annotations

import argparse
import random
import re
from pathlib import Path

from ils.evaluate.modes import evaluate_modes
from ils.infer.engine import Sampling
from ils.records import Example
from ils.tasks import TASKS, Task

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "conll2003"
PROMPT = (
    "List the named entities in this sentence, one per line as TYPE: text, where TYPE is PER (person), "
    "ORG (organisation), LOC (location) or MISC. Answer NONE if there are none.\n\nSentence: {}"
)
LINE = re.compile(r"^\s*[-*]?\s*(PER|ORG|LOC|MISC)\s*[:\-]\s*(.+?)\s*$")


class CoNLL(Task):
    name, metric = "bench_conll", "entity_f1"

    def parse(self, text: str):
        if text.strip().upper().startswith("NONE"):
            return []
        spans = [[m.group(1), m.group(2)] for m in map(LINE.match, text.splitlines()) if m]
        return spans or None


def sentences(path: Path) -> list[tuple[list[str], list[str]]]:
    out, toks, tags = [], [], []
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip() or line.startswith("-DOCSTART-"):
            if toks:
                out.append((toks, tags))
            toks, tags = [], []
            continue
        parts = line.split()
        toks.append(parts[0])
        tags.append(parts[-1])
    return out


def spans(toks: list[str], tags: list[str]) -> list[list[str]]:
    out: list[list] = []
    for tok, tag in zip(toks, tags):
        if tag.startswith("B-") or (
            tag.startswith("I-") and (not out or out[-1][0] != tag[2:] or out[-1][2])
        ):
            out.append([tag[2:], tok, False])
        elif tag.startswith("I-"):
            out[-1][1] += " " + tok
        elif out:
            out[-1][2] = True
    return [[t, x] for t, x, _ in out]


def examples(path: Path, n: int | None, seed: int) -> list[Example]:
    sents = sentences(path)
    idx = sorted(random.Random(seed).sample(range(len(sents)), n)) if n else range(len(sents))
    render = lambda s: "\n".join(f"{t}: {x}" for t, x in s) or "NONE"
    return [
        Example.from_alpaca(
            PROMPT.format(" ".join(sents[i][0])),
            "",
            render(spans(*sents[i])),
            task="bench_conll",
            answer=spans(*sents[i]),
            id=f"{path.stem}-{i}",
        )
        for i in idx
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-o", "--output", type=Path, required=True)
    ap.add_argument("--modes", default="zero-shot,few-shot:4")
    ap.add_argument("--n", type=int, default=100, help="test sentences, seeded sample (0 = all 3453)")
    args = ap.parse_args()
    TASKS.add(CoNLL())
    test, train = examples(DATA / "test.txt", args.n or None, 0), examples(DATA / "train.txt", 2000, 1)
    evaluate_modes(
        test,
        args.modes.split(","),
        args.output,
        "default",
        train,
        Sampling(max_new_tokens=48),
        batch_size=16,
        sources={"test": DATA / "test.txt"},
    )
    print((args.output / "report.json").read_text()[:2000])


if __name__ == "__main__":
    main()
