"""Does replay prevent forgetting? Tune on task set A, then on set B with and without a replay sample of A.

Procedural tasks (exact answers) on the default model, LoRA, the same steps and seed everywhere:

    base ──tune on A──► A-tuned ──tune on B──────────────► B (no replay)
                                └─tune on B + replay of A─► B (replay, ratio r)

Each stage is scored on A's and B's test splits; forgetting = A(A-tuned) − A(after B). The second
stage starts from the A-tuned model merged into its base (what ``ils loop`` does). Writes
``<out>/replay.json``, ``<out>/replay.md`` and ``<out>/replay.png``.

    nice -n 10 python bench/replay.py --steps 60 --n 200 --eval 30
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

TASKS_A = ["add", "sort_numbers", "uppercase"]
TASKS_B = ["reverse_words", "count_words", "extract_email"]


def tune(model: str, train: list, out: Path, args: argparse.Namespace) -> Path:
    from ils.config import LoraOptions, TrainConfig
    from ils.records import write_examples
    from ils.train.loop import train as run_train

    if (out / "ils.json").is_file():
        return out
    write_examples(out.parent / f"{out.name}-data" / "train.jsonl", train)
    cfg = TrainConfig(model=model, data=str(out.parent / f"{out.name}-data"), output=str(out), method="lora",
                      lora=LoraOptions(r=16, alpha=32, dropout=0.0), max_steps=args.steps, batch_size=8,
                      lr=1e-3, warmup_steps=5, eval_every=0, save_every=0, seed=0)
    return run_train(cfg)


def score(ref: str, tests: dict[str, list], args: argparse.Namespace) -> dict[str, float]:
    from ils.evaluate.judge import headline_score
    from ils.evaluate.runner import evaluate
    from ils.infer.engine import Engine, Sampling

    engine = Engine.load(ref)
    return {name: headline_score(evaluate(engine, exs, None, Sampling(32), label=ref, progress=False))
            for name, exs in tests.items()}


def split(tasks: list[str], args: argparse.Namespace, seed: int) -> tuple[list, list]:
    from ils.tasks.procedural import generate

    exs = generate(tasks, n=args.n + args.eval, seed=seed)
    random.Random(seed).shuffle(exs)
    test_prompts = set()
    test = []
    for ex in exs:
        if len(test) < args.eval * len(tasks) and ex.instruction not in test_prompts:
            test.append(ex)
            test_prompts.add(ex.instruction)
    train = [ex for ex in exs if ex.instruction not in test_prompts]
    return train, test


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path("bench-out/replay"))
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--n", type=int, default=200, help="training records per task")
    p.add_argument("--eval", type=int, default=30, help="test records per task")
    p.add_argument("--ratio", type=float, default=0.5, help="replay records per new record")
    p.add_argument("--model", default="default")
    args = p.parse_args()
    from ils.loop import _tunable_base

    args.out.mkdir(parents=True, exist_ok=True)
    train_a, test_a = split(TASKS_A, args, 1)
    train_b, test_b = split(TASKS_B, args, 2)
    tests = {"A": test_a, "B": test_b}
    rows = {"base": score(args.model, tests, args)}
    run_a = tune(args.model, train_a, args.out / "a", args)
    rows["after A"] = score(str(run_a), tests, args)
    base_b = _tunable_base(str(run_a), args.out)
    rows["after B, no replay"] = score(str(tune(base_b, train_b, args.out / "b-plain", args)), tests, args)
    replay = random.Random(0).sample(train_a, round(args.ratio * len(train_b)))
    mixed = train_b + replay
    random.Random(0).shuffle(mixed)
    rows[f"after B, replay {args.ratio:g}"] = score(str(tune(base_b, mixed, args.out / "b-replay", args)), tests, args)
    report(rows, args)


def report(rows: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a_tuned = rows["after A"]["A"]
    lines = ["| stage | A score | B score | A forgotten |", "|---|---|---|---|"]
    for name, r in rows.items():
        forgot = f"{a_tuned - r['A']:+.3f}" if name.startswith("after B") else "–"
        lines.append(f"| {name} | {r['A']:.3f} | {r['B']:.3f} | {forgot} |")
    text = "\n".join(lines) + f"\n\nA = {TASKS_A}, B = {TASKS_B}; {args.steps} LoRA steps per stage, " \
                              f"{args.n} train / {args.eval} test records per task, model {args.model}\n"
    (args.out / "replay.md").write_text(text)
    (args.out / "replay.json").write_text(json.dumps({"rows": rows, "args": vars(args)}, default=str, indent=2))
    fig, ax = plt.subplots(figsize=(7, 3.5))
    names, xs = list(rows), range(len(rows))
    ax.bar([x - 0.2 for x in xs], [rows[n]["A"] for n in names], 0.4, label="task set A")
    ax.bar([x + 0.2 for x in xs], [rows[n]["B"] for n in names], 0.4, label="task set B")
    ax.set_xticks(list(xs), names, fontsize=8)
    ax.set_ylabel("exact match")
    ax.set_title("forgetting of A when tuning on B, with and without replay")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out / "replay.png", dpi=120)
    print(text)


if __name__ == "__main__":
    main()
