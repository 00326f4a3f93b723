"""Does tuning on self-instruct output help? The default model vs the same model LoRA-tuned on a
self-instruct dataset folder, scored on seed-task-style test instructions with ROUGE-L.

The test set is a seeded sample of the 175 human-written seed tasks (one instance each). The
generator showed seeds as in-context examples, but its pool filter kept no generated instruction
with ROUGE-L >= 0.7 to any seed, so no test instruction is in the training data.

    python bench/self_instruct_eval.py --data si-data -o bench-out/si-eval --steps 100 --n 30
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

SEEDS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "self_instruct_seed" / "seed_tasks.jsonl"


def seed_tests(n: int, seed: int = 0) -> list:
    from ils.generate.prompts import load_seeds
    from ils.records import Example

    tasks, _ = load_seeds(SEEDS)
    picked = random.Random(seed).sample(tasks, min(n, len(tasks)))
    return [Example.from_alpaca(t.instruction, t.instances[0][0], t.instances[0][1], task="self-instruct",
                                id=f"seed-{i}", source=str(SEEDS)) for i, t in enumerate(picked)]


def tune(data: Path, out: Path, steps: int) -> Path:
    from ils.config import LoraOptions, TrainConfig
    from ils.train.loop import train

    if (out / "ils.json").is_file():
        return out
    return train(TrainConfig(model="default", data=str(data), output=str(out), method="lora",
                             lora=LoraOptions(r=16, alpha=32, dropout=0.05), max_steps=steps, batch_size=8,
                             lr=3e-4, warmup_steps=10, eval_every=0, save_every=0, max_length=512, seed=0))


def main() -> None:
    from ils.evaluate.modes import evaluate_modes
    from ils.infer.engine import Sampling

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, required=True, help="self-instruct dataset folder (train.jsonl)")
    p.add_argument("-o", "--out", type=Path, default=Path("bench-out/si-eval"))
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--n", type=int, default=30, help="seed tasks in the test set")
    args = p.parse_args()
    run = tune(args.data, args.out / "run", args.steps)
    report = evaluate_modes(seed_tests(args.n), ["zero-shot", str(run)], args.out / "eval", "default",
                            sampling=Sampling(max_new_tokens=128), strict=False)
    for name, rep in report["modes"].items():
        print(name, rep["overall"])


if __name__ == "__main__":
    main()
