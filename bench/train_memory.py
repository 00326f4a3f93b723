"""Peak memory (RSS) of LoRA SFT with ``ils train`` at max length 512, 1,024 and 2,048, and where it goes.

Records fill the max length (a long document to summarize, a ~40-token answer), so the batches are as
long as the setting allows: short procedural records at "max length 512" would never reach it. Each
length runs in its own subprocess (a process's peak RSS never comes down), LoRA r=16 on all linear
layers of the default model (SmolLM2-135M-Instruct), batch 8, and with ``--eval`` a train config's
``eval:`` block (batch 16, the base model's zero-shot before training and the run after) and a
validation pass. A sampler thread reads the RSS every 0.2 s and reports the peak of each phase:
model load, evaluation before, training steps, validation, saving the run, evaluation after. A length
whose RSS passes ``--cap-mb`` is stopped and reported with the phase it was in.

    OMP_NUM_THREADS=1 python bench/train_memory.py                      # 512, 1024, 2048; 2 steps each
    OMP_NUM_THREADS=1 python bench/train_memory.py --lengths 1024 --steps 2 --eval
    python bench/train_memory.py --lengths 1024 --activation-checkpointing true   # the setting forced

Goal: at most 4 GB at 1,024 tokens, batch 8.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

WORDS = ("the a of and to in is was for on that with as by at it from his her they this had not but are "
         "were which one all she he there been their have has more when who will would about some time "
         "people city river house road market school team game year day night water light music table").split()
PHASES = ("load", "eval before", "train steps", "validation", "finish", "eval after")


def make_data(folder: Path, length: int, n: int, seed: int = 0) -> Path:
    """A dataset folder of summarization records whose prompts fill ``length`` tokens."""
    from ils.records import Example, write_examples

    rng = random.Random(seed)

    def record(i: int) -> Example:
        doc = " ".join(rng.choice(WORDS) for _ in range(length))  # ~1 token a word: cut to length
        summary = " ".join(rng.choice(WORDS) for _ in range(40))
        return Example.from_alpaca(f"Summarize the following text.\n\n{doc}", "", summary, task="summarization",
                                   answer=summary, id=f"m-{i}")

    for split, count in (("train", n), ("validation", 16), ("test", 16)):
        write_examples(folder / f"{split}.jsonl", [record(i) for i in range(count)])
    return folder


class Sampler:
    """RSS every ``every`` seconds, the peak kept per phase (``phase`` is set by the wrapped stages)."""

    def __init__(self, every: float = 0.2, cap_mb: float = 0.0):
        self.phase, self.peaks, self.every, self.cap_mb = "load", {}, every, cap_mb
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    @staticmethod
    def rss_mb() -> float:
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.mark()

    def mark(self) -> None:
        rss = self.rss_mb()
        self.peaks[self.phase] = max(self.peaks.get(self.phase, 0.0), rss)
        if self.cap_mb and rss > self.cap_mb:  # stop before the machine runs out: report where it was
            print(json.dumps({"capped": round(rss), "phase": self.phase,
                              "phases": {k: round(v) for k, v in self.peaks.items()}}), flush=True)
            os._exit(3)

    def during(self, phase: str, fn):
        def wrapped(*a, **kw):
            before, self.phase = self.phase, phase
            try:
                return fn(*a, **kw)
            finally:
                self.mark()
                after = {"validation": "train steps", "train steps": "finish"}  # finish: saving the run
                self.phase = after.get(phase, before)
        return wrapped


def worker(data: Path, out: Path, length: int, steps: int, with_eval: bool, ckpt: str) -> dict:
    from ils.config import EvalOptions, LoraOptions, TrainConfig
    from ils.train import loop

    sampler = Sampler(cap_mb=float(os.environ.get("ILS_BENCH_CAP_MB", "0")))
    loop.eval_before = sampler.during("eval before", loop.eval_before)
    loop.eval_after = sampler.during("eval after", loop.eval_after)
    loop.validation_loss = sampler.during("validation", loop.validation_loss)
    loop._run_steps = sampler.during("train steps", loop._run_steps)
    extra = {} if ckpt == "default" else {"activation_checkpointing": ckpt == "true"}
    cfg = TrainConfig(model="default", data=str(data), output=str(out), max_steps=steps, batch_size=8,
                      max_length=length, lora=LoraOptions(r=16, alpha=32, dropout=0.05), save_every=0,
                      eval_every=steps if with_eval else 0, warmup_steps=0, **extra,
                      eval=EvalOptions(test=str(data), batch_size=16, max_new_tokens=16) if with_eval else None)
    start, tokens = time.perf_counter(), []
    loop.train(cfg, on_step=lambda step, m: tokens.append(m["tokens"]))
    sampler.mark()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"max_length": length, "peak_mb": round(peak), "seconds": round(time.perf_counter() - start),
            "tokens_per_step": tokens, "phases": {k: round(v) for k, v in sampler.peaks.items()}}


def run_one(length: int, args: argparse.Namespace, tmp: Path) -> dict:
    data = make_data(tmp / f"data-{length}", length, n=8 * args.steps)
    cmd = [sys.executable, __file__, "--worker", str(data), str(tmp / f"run-{length}"), str(length),
           str(args.steps), "1" if args.eval else "0", args.activation_checkpointing]
    env = {**os.environ, "ILS_BENCH_CAP_MB": str(args.cap_mb)}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode == 3:
        capped = json.loads(done.stdout.strip().splitlines()[-1])
        return {"max_length": length, "peak_mb": f">{capped['capped']}", "seconds": "–", **capped}
    if done.returncode:
        raise SystemExit(f"worker at {length} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", default="512,1024,2048")
    ap.add_argument("--steps", type=int, default=2, help="optimizer steps per length")
    ap.add_argument("--eval", action="store_true", help="with an eval: block (batch 16) and a validation pass")
    ap.add_argument("--activation-checkpointing", default="default", choices=["default", "true", "false"])
    ap.add_argument("--cap-mb", type=float, default=12000,
                    help="stop a length's run when its RSS passes this (MB; 0: no cap), reporting the phase")
    ap.add_argument("--worker", nargs=6, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        data, out, length, steps, with_eval, ckpt = args.worker
        print(json.dumps(worker(Path(data), Path(out), int(length), int(steps), with_eval == "1", ckpt)))
        return
    print(f"{'max_length':>10} {'peak RSS MB':>12} {'s':>6}  " + "  ".join(f"{p:>12}" for p in PHASES))
    with tempfile.TemporaryDirectory() as tmp:
        for length in [int(x) for x in args.lengths.split(",")]:
            r = run_one(length, args, Path(tmp))
            phases = "  ".join(f"{r['phases'].get(p, '–'):>12}" for p in PHASES)
            note = f"  (stopped at the cap, in {r['phase']})" if "capped" in r else ""
            print(f"{length:>10} {r['peak_mb']:>12} {r['seconds']:>6}  {phases}{note}", flush=True)


if __name__ == "__main__":
    main()
