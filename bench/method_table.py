"""Method comparison on SST-2 as an instruction task: one row per tuning method.

Each method trains the same model on the same SST-2 training sentences (turned into instruction
records here), in its own subprocess so peak memory (max RSS) is per method, then the tuned model
answers dev sentences greedily and is scored by accuracy. Writes methods.json, methods.md and
methods.png in --out.

    nice -n 10 python bench/method_table.py --model default --train 800 --dev 200 --steps 100
    python bench/method_table.py --model tests-tiny-llama-folder --train 32 --dev 8 --steps 4  # smoke
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

SST2 = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "sst2"
INSTRUCTION = "Is the sentiment of this movie review positive or negative? Answer with one word."
METHODS = {"full": {}, "freeze": {"top_k": 2, "train_head": False}, "lora": {}, "dora": {},
           "adalora": {"init_r": 12, "target_r": 8}, "ia3": {}, "prefix": {"num_virtual_tokens": 10},
           "prompt": {"num_virtual_tokens": 16}, "adapter": {"size": 32}, "bitfit": {}}
LR = {"full": 5e-5, "freeze": 1e-4, "ia3": 3e-3, "prefix": 1e-2, "prompt": 3e-2}


def records(split: str, n: int, seed: int = 0) -> list:
    import random

    from ils.records import Example

    with open(SST2 / f"{split}.tsv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    random.Random(seed).shuffle(rows)
    names = {"0": "negative", "1": "positive"}
    return [Example.from_alpaca(INSTRUCTION, r["sentence"].strip(), names[r["label"]], task="sst2",
                                answer=names[r["label"]], id=f"sst2-{split}-{i}") for i, r in enumerate(rows[:n])]


def parse(text: str) -> str:
    """First sentiment word in the answer (the base model often adds words around it)."""
    low = text.lower()
    hits = [(low.find(w), w) for w in ("positive", "negative") if w in low]
    return min(hits)[1] if hits else ""


def run_one(method: str, args: argparse.Namespace, out: Path) -> dict:
    """Train + score one method in a subprocess; returns its row."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", method, "--out", str(out), "--model", args.model,
                           "--train", str(args.train), "--dev", str(args.dev), "--steps", str(args.steps)],
                          capture_output=True, text=True, check=False)
    if proc.returncode:
        return {"method": method, "error": proc.stderr.strip().splitlines()[-1]}
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    return {**row, "wall_s": round(time.perf_counter() - start, 1)}


def child(method: str, args: argparse.Namespace, out: Path) -> None:
    import torch

    from ils.config import TrainConfig
    from ils.infer.engine import Engine, Sampling
    from ils.models.loading import load_run
    from ils.records import write_examples
    from ils.train.loop import train

    write_examples(out / "data" / "train.jsonl", records("train", args.train))
    dev = records("dev", args.dev)
    t0 = time.perf_counter()
    run = train(TrainConfig(model=args.model, data=str(out / "data" / "train.jsonl"), output=str(out / method),
                            method=method, method_options=METHODS[method], lr=LR.get(method, 2e-4),
                            max_steps=args.steps, batch_size=8, warmup_steps=5, eval_every=0, save_every=0,
                            max_length=256))
    train_s = time.perf_counter() - t0
    info = json.loads((run / "ils.json").read_text())
    model, tok, _ = load_run(run)
    answers = Engine(model, tok, 16).chat([ex.prompt_messages for ex in dev], Sampling(max_new_tokens=4))
    acc = sum(parse(a) == ex.answer for a, ex in zip(answers, dev)) / len(dev)
    print(json.dumps({"method": method, "threads": torch.get_num_threads(), "trainable": info["trainable_params"],
                      "total": info["total_params"], "train_s": round(train_s, 1), "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
                      "accuracy": acc}))


def table(rows: list[dict]) -> str:
    lines = ["| method | trainable params (%) | train wall time (s) | peak memory (MB) | dev accuracy |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['method']} | error: {r['error'][:60]} | | | |")
            continue
        pct = 100 * r["trainable"] / r["total"]
        lines.append(f"| {r['method']} | {r['trainable']:,} ({pct:.3f}%) | {r['train_s']} | {r['peak_mb']} | "
                     f"{r['accuracy']:.3f} |")
    return "\n".join(lines) + "\n"


def chart(rows: list[dict], dest: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if "error" not in r]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.bar([r["method"] for r in ok], [r["accuracy"] for r in ok])
    a.axhline(0.5, color="grey", linestyle="--", linewidth=1, label="chance")
    a.tick_params(axis="x", labelrotation=45)
    a.set_ylabel("SST-2 dev accuracy")
    a.set_ylim(0, 1)
    a.legend(loc="lower right")
    b.scatter([100 * r["trainable"] / r["total"] for r in ok], [r["train_s"] for r in ok])
    for r in ok:
        b.annotate(r["method"], (100 * r["trainable"] / r["total"], r["train_s"]))
    b.set_xscale("log")
    b.set_xlabel("trainable parameters (%)")
    b.set_ylabel("train wall time (s)")
    fig.tight_layout()
    fig.savefig(dest, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="default")
    p.add_argument("--out", default="bench-out/methods")
    p.add_argument("--train", type=int, default=800)
    p.add_argument("--dev", type=int, default=200)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--child")
    args = p.parse_args()
    out = Path(args.out)
    if args.child:
        return child(args.child, args, out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for method in args.methods.split(","):  # written after every method, so a long run can be watched
        rows.append(run_one(method, args, out))
        (out / "methods.json").write_text(json.dumps(rows, indent=1))
        (out / "methods.md").write_text(table(rows))
    chart(rows, out / "methods.png")
    print(table(rows))


if __name__ == "__main__":
    main()
