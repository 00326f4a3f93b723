"""SST-2 dev: zero-shot vs few-shot (vs a LoRA-tuned run) with the default model, parsed and by likelihood.

One fixed prompt (registered as the task ``bench_sst2`` at run time), unlike the ``sentiment`` task's
several templates that configs/sst2-smollm2.yaml trains and scores with. Run from the repo root:

    PYTHONPATH=src nice -n 10 python bench/sst2_eval.py -o bench-out/sst2 --modes zero-shot,few-shot:4
    PYTHONPATH=src nice -n 10 python bench/sst2_eval.py -o bench-out/sst2-tuned --train-steps 150
"""

from __future__ import annotations

import argparse
import csv
import random
import re
from pathlib import Path

from ils.evaluate.modes import evaluate_modes
from ils.infer.engine import Sampling
from ils.records import Example, write_examples
from ils.tasks import TASKS, Task

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "sst2"
PROMPT = "Is the sentiment of this movie review positive or negative? Answer with one word.\n\nReview: {}"
LABELS = ("negative", "positive")


class SST2(Task):
    name, metric, choices = "bench_sst2", "classification", LABELS

    def parse(self, text: str):
        words = re.findall(r"[a-z]+", text.lower())
        if words and words[0] in LABELS:
            return words[0]
        found = {w for w in words if w in LABELS}
        return found.pop() if len(found) == 1 else None


def read_tsv(path: Path, limit: int | None = None) -> list[Example]:
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    out = [
        Example.from_alpaca(
            PROMPT.format(r["sentence"].strip()),
            "",
            LABELS[int(r["label"])],
            task="bench_sst2",
            answer=LABELS[int(r["label"])],
            id=f"{path.stem}-{i}",
            source=f"{path}:{i + 2}",
        )
        for i, r in enumerate(rows)
    ]
    return out[:limit] if limit else out


def tune(train: list[Example], out: Path, steps: int) -> Path:
    from ils.config import TrainConfig
    from ils.train.loop import train as run_train

    write_examples(out / "data" / "train.jsonl", train)
    cfg = TrainConfig(
        model="default",
        data=str(out / "data"),
        output=str(out / "run"),
        max_steps=steps,
        batch_size=8,
        lr=2e-4,
        eval_every=0,
        save_every=0,
        seed=0,
    )
    return run_train(cfg)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-o", "--output", type=Path, required=True)
    ap.add_argument("--modes", default="zero-shot,few-shot:4")
    ap.add_argument("--limit", type=int, default=None, help="dev records (default all 872)")
    ap.add_argument("--train-steps", type=int, default=0, help="LoRA-tune first and add the run as a mode")
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    TASKS.add(SST2())
    dev, train = read_tsv(DATA / "dev.tsv", args.limit), read_tsv(DATA / "train.tsv")
    modes = [m for m in args.modes.split(",") if m]
    if args.train_steps:
        pool = random.Random(0).sample(train, args.train_steps * 8)
        modes.append(str(tune(pool, args.output, args.train_steps)))
    evaluate_modes(
        dev,
        modes,
        args.output / "eval",
        "default",
        train,
        Sampling(max_new_tokens=8),
        batch_size=args.batch_size,
        sources={"test": DATA / "dev.tsv"},
    )
    print((args.output / "eval" / "report.json").read_text()[:3000])


if __name__ == "__main__":
    main()
