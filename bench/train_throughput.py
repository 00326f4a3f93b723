"""Training throughput: TRL's SFTTrainer vs ``ils train`` on the same work, like for like.

Same model (SmolLM2-135M-Instruct), LoRA r=16 on all linear projections, the same 2,000 procedural
records, batch 8, max length 512. Four rows, printed as two like-for-like pairs:

- ``TRL defaults`` (gradient checkpointing on, random batches, loss on every token) against
  ``ILS+ckpt`` (activation checkpointing on, ILS's own batching and response-only loss);
- ``TRL best`` (its best settings for this CPU: no gradient checkpointing, ``group_by_length``,
  prompt–completion records so the loss is on completions only) against ``ILS`` (its defaults).

Both tools use bf16 autocast only where the CPU has bf16 units (elsewhere emulated bf16 is slower).
Each block runs in its own subprocess (peak RSS per tool) and blocks are interleaved across rounds.
Throughput is non-padding tokens per second of optimizer-step wall time, the first two steps of a
block (warm-up) dropped. A block times a fixed number of steps over the same data, not an epoch.

    PYTHONPATH=src python bench/train_throughput.py --rounds 3 --steps 12
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RECORDS, BATCH, MAX_LEN, RANK = 2000, 8, 512, 16
NAMES = {"trl": "TRL defaults", "ils-ckpt": "ILS+ckpt", "trl-best": "TRL best", "ils": "ILS"}
PAIRS = [("trl", "ils-ckpt"), ("trl-best", "ils")]


def make_data(folder: Path) -> Path:
    from ils.records import write_examples
    from ils.tasks.procedural import generate, resolve_tasks

    names = [t.name for t in resolve_tasks(None)]
    examples = generate(names, n=RECORDS // len(names) + 1, seed=0)[:RECORDS]
    return write_examples(folder / "train.jsonl", examples)


def worker_ils(data: Path, steps: int, out: Path, checkpointing: bool = False) -> list[tuple[int, float]]:
    from ils.config import LoraOptions, TrainConfig
    from ils.train.loop import train

    times: list[tuple[int, float]] = []
    cfg = TrainConfig(model="default", data=str(data), output=str(out), max_steps=steps, batch_size=BATCH,
                      max_length=MAX_LEN, lora=LoraOptions(r=RANK, alpha=2 * RANK, dropout=0.05),
                      eval_every=0, save_every=0, activation_checkpointing=checkpointing)
    train(cfg, on_step=lambda step, m: times.append((m["tokens"], m["tokens"] / m["tok_per_s"])))
    return times


def worker_trl(data: Path, steps: int, out: Path, best: bool = False) -> list[tuple[int, float]]:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from ils.models.loading import load_tokenizer
    from ils.models.sources import resolve
    from ils.records import load_examples

    from ils.cpu import has_bf16_units

    folder = resolve("default")
    rows = [_trl_row(ex, best) for ex in load_examples(data)]
    times: list[tuple[int, float]] = []
    counted: list[int] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            self.t = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            times.append((counted.pop() if counted else 0, time.perf_counter() - self.t))

    class Counting(SFTTrainer):
        def compute_loss(self, model, inputs, *a, **kw):
            counted.append(int(inputs["attention_mask"].sum()))
            return super().compute_loss(model, inputs, *a, **kw)

    tuned = dict(gradient_checkpointing=False, train_sampling_strategy="group_by_length") if best else {}
    args = SFTConfig(output_dir=str(out), use_cpu=True, max_steps=steps, per_device_train_batch_size=BATCH,
                     max_length=MAX_LEN, report_to=[], save_strategy="no", logging_steps=10**6,
                     bf16=has_bf16_units(), **tuned)
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    peft = LoraConfig(r=RANK, lora_alpha=2 * RANK, lora_dropout=0.05, target_modules="all-linear",
                      task_type="CAUSAL_LM")
    Counting(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=load_tokenizer(folder),
             peft_config=peft, callbacks=[Clock()]).train()
    return times


def _trl_row(ex, best: bool) -> dict:
    """Defaults: the whole conversation (loss on every token); best: prompt + completion (loss on the
    completion only, TRL's default for that layout), which is what ILS trains on."""
    msgs = [m.model_dump() for m in ex.messages]
    return {"prompt": msgs[:-1], "completion": msgs[-1:]} if best else {"messages": msgs}


def run_block(tool: str, data: Path, steps: int, work: Path) -> dict:
    out = work / f"{tool}-{time.monotonic_ns()}"
    cmd = [sys.executable, __file__, "--worker", tool, "--data", str(data), "--steps", str(steps), "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{tool} block failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summarize(blocks: list[dict]) -> dict:
    rates = [tok / sec for b in blocks for tok, sec in b["steps"][2:]]
    return {"median_tok_s": statistics.median(rates), "min": min(rates), "max": max(rates),
            "peak_rss_mb": max(b["peak_rss_mb"] for b in blocks), "steps_timed": len(rates)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--worker", choices=list(NAMES))
    ap.add_argument("--data", type=Path)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if args.worker:
        if args.worker.startswith("trl"):
            steps = worker_trl(args.data, args.steps, args.out, best=args.worker == "trl-best")
        else:
            steps = worker_ils(args.data, args.steps, args.out, checkpointing=args.worker == "ils-ckpt")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"steps": steps, "peak_rss_mb": rss}))
        return
    work = Path(tempfile.mkdtemp(prefix="ils-bench-"))
    data = make_data(work)
    blocks: dict[str, list[dict]] = {name: [] for name in NAMES}
    for r in range(args.rounds):
        for tool in blocks:
            blocks[tool].append(run_block(tool, data, args.steps, work))
            print(f"round {r + 1}: {tool} done", file=sys.stderr)
    report({name: summarize(b) for name, b in blocks.items()}, args)


def report(results: dict[str, dict], args: argparse.Namespace) -> None:
    print(f"SmolLM2-135M LoRA r={RANK} all-linear, batch {BATCH}, max length {MAX_LEN}, {RECORDS} records, "
          f"{args.rounds} rounds x {args.steps} steps per row (first 2 steps of each block dropped)")
    print(f"{'':14}{'median tok/s':>14}{'min':>8}{'max':>8}{'peak RSS MB':>13}{'speed':>9}{'memory':>9}")
    for peer, ours in PAIRS:
        for key in (peer, ours):
            s, p = results[key], results[peer]
            print(f"{NAMES[key]:14}{s['median_tok_s']:>14.1f}{s['min']:>8.1f}{s['max']:>8.1f}"
                  f"{s['peak_rss_mb']:>13.0f}{s['median_tok_s'] / p['median_tok_s']:>8.2f}x"
                  f"{s['peak_rss_mb'] / p['peak_rss_mb']:>8.2f}x")
        print()


if __name__ == "__main__":
    main()
