"""Robustness table: SST-2 on clean dev and on a perturbed dev, trained without and with FGM and PGD.

Two model kinds: the default encoder (all-MiniLM-L6-v2, sequence head, full fine-tuning) and the default
generative model (SmolLM2-135M-Instruct, LoRA). The perturbed sets are made by ``ils.data.perturb``
(seeded character typos and word swaps, the same text every run). Recipes are chosen on a validation
split carved from SST-2 train (its perturbed copy): for each attack, the epsilon whose run scores best on
perturbed validation; the 872 dev sentences, clean and perturbed, are scored once with it. Table rows:
model, attack, epsilon, clean dev, perturbed dev, gap (clean - perturbed). Writes robustness.json,
robustness.md and robustness.png under --out.

    PYTHONPATH=src python bench/robustness.py --out bench-out/robustness
    PYTHONPATH=src python bench/robustness.py --out bench-out/robustness --kinds encoder --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from pathlib import Path

SST2 = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "sst2"
KINDS = {
    "encoder": {"model": "default-encoder", "method": "full", "lr": 5e-5, "head": {"kind": "sequence", "pooling": "mean"}},
    "generative": {"model": "default", "method": "lora", "lr": 5e-4, "head": {}},
}


def tsv_rows(path: Path, limit: int | None = None, skip: int = 0) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return rows[skip:skip + limit] if limit else rows[skip:]


def write_tsv(path: Path, rows: list[dict], noisy: bool, args: argparse.Namespace) -> Path:
    from ils.data.perturb import perturb

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\")
        w.writerow(["sentence", "label"])
        for r in rows:
            text = perturb(r["sentence"], args.noise_seed, args.typo_rate, args.swap_rate) if noisy else r["sentence"]
            w.writerow([text, r["label"]])
    return path


def build(name: str, tsv: Path, args: argparse.Namespace) -> Path:
    from ils.data.build import build_dataset

    dest = args.out / "data" / name
    if not (dest / "manifest.json").is_file():
        build_dataset({"seed": 0, "sources": [{"task": "sentiment", "path": str(tsv), "name": "sst2"}],
                       "splits": {"train": 1.0, "validation": 0.0, "test": 0.0},
                       "dedup": {"exact": False, "near": False}}, dest, progress=False)
    return dest


def make_data(args: argparse.Namespace) -> dict[str, Path]:
    """train, validation (clean, noisy) carved from SST-2 train; dev (clean, noisy)."""
    raw = args.out / "raw"
    train = tsv_rows(SST2 / "train.tsv", args.n, skip=args.val)
    val = tsv_rows(SST2 / "train.tsv", args.val)
    dev = tsv_rows(SST2 / "dev.tsv", args.dev)
    sets = {"train": (train, False), "val-clean": (val, False), "val-noisy": (val, True),
            "dev-clean": (dev, False), "dev-noisy": (dev, True)}
    return {name: build(name, write_tsv(raw / f"{name}.tsv", rows, noisy, args), args)
            for name, (rows, noisy) in sets.items()}


def tune(kind: str, attack: str | None, eps: float, seed: int, data: dict[str, Path], args) -> Path:
    from ils.config import TrainConfig
    from ils.train.loop import train

    out = args.out / "runs" / f"{kind}-{attack or 'none'}-{eps:g}-s{seed}"
    if (out / "ils.json").is_file() and json.loads((out / "ils.json").read_text()).get("status") == "done":
        return out
    k = KINDS[kind]
    steps, batch = (args.steps, 16) if kind == "encoder" else (args.gen_steps, args.gen_batch_size)
    adv = {"attack": attack, "epsilon": eps} if attack else {}
    if attack == "pgd":
        adv["steps"] = args.pgd_steps
    cfg = TrainConfig(model=k["model"], data=str(data["train"]), output=str(out), method=k["method"], head=k["head"],
                      max_steps=steps, batch_size=batch, lr=k["lr"], warmup_steps=min(10, steps // 4), eval_every=0, save_every=0,
                      max_length=args.max_length, seed=seed, adversarial=adv)
    start = time.perf_counter()
    run = train(cfg)
    print(f"robustness: trained {out.name} in {time.perf_counter() - start:.0f}s", file=sys.stderr)
    return run


def score(run: Path, folder: Path, args: argparse.Namespace) -> float:
    """Accuracy of ``run`` on a built set (cached in the run folder)."""
    cache = run / f"bench-score-{folder.name}-{args.gen_eval or 'all'}.json"
    if cache.is_file():
        return json.loads(cache.read_text())["score"]
    start = time.perf_counter()
    value = _score(run, folder, args)
    cache.write_text(json.dumps({"score": value, "seconds": time.perf_counter() - start}))
    print(f"robustness: {run.name} on {folder.name}: {value:.3f} in {time.perf_counter() - start:.0f}s", file=sys.stderr)
    return value


def _score(run: Path, folder: Path, args: argparse.Namespace) -> float:
    from ils.dataset import read_split
    from ils.evaluate.encoder import evaluate_encoder, is_encoder_run
    from ils.evaluate.judge import headline_score
    from ils.evaluate.runner import evaluate
    from ils.infer.engines import load_engine
    from ils.infer.protocol import Sampling

    records = read_split(folder, "train")
    if is_encoder_run(run):
        return headline_score(evaluate_encoder(run, records, None, str(run)))
    engine = load_engine(str(run), "hf")
    records = records[:args.gen_eval] if args.gen_eval else records  # generation costs ~100x the encoder's pass
    try:
        return headline_score(evaluate(engine, records, None, Sampling(8), str(run), progress=False, likelihood=False))
    finally:
        engine.close()


def recipe(kind: str, attack: str | None, data: dict[str, Path], args: argparse.Namespace) -> tuple[float, dict]:
    """The epsilon that scores best on perturbed validation (seed 0), and every candidate's score."""
    if attack is None:
        return 0.0, {}
    grid = [float(e) for e in args.epsilons.split(",")]
    scores = {e: score(tune(kind, attack, e, 0, data, args), data["val-noisy"], args) for e in grid}
    return max(grid, key=lambda e: scores[e]), scores


def row(kind: str, attack: str | None, data: dict[str, Path], args: argparse.Namespace) -> dict:
    eps, on_val = recipe(kind, attack, data, args)
    seeds = [int(s) for s in args.seeds.split(",")]
    clean, noisy = [], []
    for seed in seeds:
        run = tune(kind, attack, eps, seed, data, args)
        clean.append(score(run, data["dev-clean"], args))
        noisy.append(score(run, data["dev-noisy"], args))
    gaps = [c - n for c, n in zip(clean, noisy)]
    return {"kind": kind, "attack": attack or "none", "epsilon": eps, "validation": on_val, "clean": clean,
            "noisy": noisy, "gap": gaps}


def table(rows: list[dict], args: argparse.Namespace) -> str:
    def ms(xs: list[float]) -> str:
        return f"{statistics.mean(xs):.3f}" + (f" ± {statistics.stdev(xs):.3f}" if len(xs) > 1 else "")

    lines = ["| model | attack | epsilon (chosen on validation) | clean dev | perturbed dev | gap |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['kind']} | {r['attack']} | {r['epsilon']:g} | {ms(r['clean'])} | {ms(r['noisy'])} | {ms(r['gap'])} |"
              for r in rows]
    return "\n".join(lines) + (f"\n\nSST-2: {args.n} train phrases, {args.val} validation phrases carved from train, "
                               f"{args.dev or 872} dev sentences; noise: typo rate {args.typo_rate}, swap rate "
                               f"{args.swap_rate}, seed {args.noise_seed}; encoder {args.steps} steps of 16, "
                               f"generative {args.gen_steps} LoRA steps of {args.gen_batch_size}, scored on the first {args.gen_eval or 'all'} "
                               f"validation and dev sentences; seeds {args.seeds}\n")


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['kind']}\n{r['attack']}" for r in rows]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    xs = range(len(rows))
    ax.bar([x - 0.2 for x in xs], [statistics.mean(r["clean"]) for r in rows], 0.4, label="clean dev")
    ax.bar([x + 0.2 for x in xs], [statistics.mean(r["noisy"]) for r in rows], 0.4, label="perturbed dev")
    ax.set_xticks(list(xs), labels, fontsize=8)
    ax.set_ylabel("accuracy")
    ax.set_title("SST-2: clean vs perturbed dev, without and with adversarial training")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path("bench-out/robustness"))
    p.add_argument("--kinds", default="encoder,generative")
    p.add_argument("--attacks", default="none,fgm,pgd")
    p.add_argument("--epsilons", default="0.01,0.05,0.1,0.5", help="candidates chosen among on perturbed validation")
    p.add_argument("--pgd-steps", type=int, default=3)
    p.add_argument("--seeds", default="0")
    p.add_argument("--steps", type=int, default=300, help="encoder: steps of 16 phrases")
    p.add_argument("--gen-steps", type=int, default=300, help="generative model: LoRA steps")
    p.add_argument("--gen-batch-size", type=int, default=16)
    p.add_argument("--gen-eval", type=int, default=None,
                   help="generative model: score the first N validation and dev sentences (default: all)")
    p.add_argument("--n", type=int, default=4000, help="training phrases")
    p.add_argument("--val", type=int, default=500, help="validation phrases carved from train")
    p.add_argument("--dev", type=int, default=None, help="dev sentences (default: all 872)")
    p.add_argument("--typo-rate", type=float, default=0.15)
    p.add_argument("--swap-rate", type=float, default=0.1)
    p.add_argument("--noise-seed", type=int, default=0)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--encoder", default="default-encoder", help="the encoder model")
    p.add_argument("--generative", default="default", help="the generative model")
    args = p.parse_args()
    KINDS["encoder"]["model"], KINDS["generative"]["model"] = args.encoder, args.generative
    args.out.mkdir(parents=True, exist_ok=True)
    data = make_data(args)
    rows = [row(kind, None if a == "none" else a, data, args)
            for kind in args.kinds.split(",") for a in args.attacks.split(",")]
    text = table(rows, args)
    (args.out / "robustness.md").write_text(text)
    (args.out / "robustness.json").write_text(json.dumps({"rows": rows, "args": vars(args)}, default=str, indent=1))
    plot(rows, args.out / "robustness.png")
    print(text)


if __name__ == "__main__":
    main()
