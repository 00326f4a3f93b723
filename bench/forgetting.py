"""Forgetting table: three task sets learned one after another, each continual method side by side.

Sets (in this order): P1 and P2, two procedural sets with exact answers, and SST-2 sentiment from
``../shared/data/sst2`` (the ``sentiment`` task's templates). Every method tunes the same LoRA, the same
steps and seed per stage; the first stage is the same plain run for all (nothing to keep yet) and is
trained once per seed. Methods (the ``continual:`` options of ``ils train``):

    none        continue from the previous stage's adapter (plain sequential fine-tuning)
    replay      the same, with a replay sample of every earlier set mixed in (--ratio per new record)
    ewc         + EWC (--ewc), Fisher on the previous set, accumulated along the chain
    lwf         + LwF (--lwf), KL to the previous stage's outputs on the new set
    adapters    a fresh LoRA per set, every prompt routed to one at inference
    replay+lwf  both

R[i][j] = score on set j after stage i. Reported per method (mean ± sd over --seeds): average final
accuracy ACC = mean_j R[3][j]; backward transfer BWT = mean_{j<3} (R[3][j] - R[j][j]) (negative =
forgetting); learned vs alone = mean_j (R[j][j] - A[j]), A[j] = set j tuned alone from the base (how
well each new set is still learned); training time and peak RSS of the method's process. Each method
runs in its own process. Choose --ewc/--lwf/--ratio with ``--split validation`` (scores the sets'
validation records), then score the test split once with the chosen values. Writes forgetting.json,
forgetting.md and forgetting.png under --out.

    PYTHONPATH=src python bench/forgetting.py --out bench-out/forgetting --split validation   # choose
    PYTHONPATH=src python bench/forgetting.py --out bench-out/forgetting --seeds 0,1,2         # the table
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

SETS = {"P1": ["add", "sort_numbers", "uppercase"], "P2": ["reverse_words", "count_words", "extract_email"]}
REAL = "SST2"
METHODS = ["none", "replay", "ewc", "lwf", "adapters", "replay+lwf"]
SST2 = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "sst2"


def make_sets(args: argparse.Namespace) -> dict[str, dict[str, list]]:
    """{set: {train, validation, test}} of Examples; the same for every method and seed."""
    from ils.tasks.procedural import generate

    out = {}
    for i, (name, tasks) in enumerate(SETS.items()):
        exs = generate(tasks, n=args.n + 2 * args.eval, seed=100 + i)
        out[name] = _split(exs, args.eval * len(tasks))
    out[REAL] = _sst2(args)
    return out


def _split(exs: list, k: int) -> dict[str, list]:
    """Test and validation records whose prompts the train split never shows."""
    random.Random(0).shuffle(exs)
    seen, held = set(), []
    for ex in exs:
        if len(held) < 2 * k and ex.instruction not in seen:
            held.append(ex)
            seen.add(ex.instruction)
    train = [ex for ex in exs if ex.instruction not in seen]
    return {"train": train, "validation": held[:k], "test": held[k:]}


def _sst2(args: argparse.Namespace) -> dict[str, list]:
    """SST-2 train phrases for training and validation, dev sentences for test (its labels are public)."""
    from ils.data.build import build_dataset
    from ils.dataset import read_split

    root = args.out / "data" / "sst2"
    for name, path, limit in (("train", SST2 / "train.tsv", args.n * 3 + args.eval), ("dev", SST2 / "dev.tsv", args.eval)):
        if not (root / name / "manifest.json").is_file():
            build_dataset({"seed": 0, "sources": [{"task": "sentiment", "path": str(path), "name": "sst2", "limit": limit}],
                           "splits": {"train": 1.0, "validation": 0.0, "test": 0.0},
                           "dedup": {"exact": True, "near": False}}, root / name, progress=False)
    train = read_split(root / "train", "train")
    return {"train": train[args.eval:], "validation": train[:args.eval], "test": read_split(root / "dev", "train")}


def write_sets(sets: dict, args: argparse.Namespace) -> dict[str, Path]:
    from ils.records import write_examples

    folders = {}
    for name, parts in sets.items():
        folders[name] = args.out / "data" / name
        for split, exs in parts.items():
            if not (folders[name] / f"{split}.jsonl").is_file():
                write_examples(folders[name] / f"{split}.jsonl", exs)
    return folders


def tune(model: str, data: Path, out: Path, args: argparse.Namespace, seed: int, **continual) -> tuple[Path, float]:
    from ils.config import ContinualOptions, LoraOptions, TrainConfig
    from ils.train.loop import train

    if (out / "ils.json").is_file() and json.loads((out / "ils.json").read_text()).get("status") == "done":
        return out, json.loads((out / "bench-time.json").read_text())["seconds"]
    cfg = TrainConfig(model=model, data=str(data), output=str(out), method="lora", seed=seed,
                      lora=LoraOptions(r=16, alpha=32, dropout=0.0), max_steps=args.steps, batch_size=8, lr=args.lr,
                      warmup_steps=5, eval_every=0, save_every=0, max_length=256, continual=ContinualOptions(**continual))
    start = time.perf_counter()
    train(cfg)
    seconds = time.perf_counter() - start
    (out / "bench-time.json").write_text(json.dumps({"seconds": seconds}))
    return out, seconds


def score(ref: str, folders: dict[str, Path], split: str, args: argparse.Namespace) -> dict[str, float]:
    from ils.dataset import read_split
    from ils.evaluate.routed import RoutedEngine, is_routed_run
    from ils.evaluate.runner import evaluate
    from ils.infer.engines import load_engine
    from ils.infer.protocol import Sampling

    engine = RoutedEngine.load(ref) if is_routed_run(ref) else load_engine(ref, "hf")
    try:
        return {name: evaluate(engine, read_split(folder, split), None, Sampling(args.max_new_tokens), label=ref,
                               progress=False, likelihood=False)["overall"]["score"] for name, folder in folders.items()}
    finally:
        engine.close()


def stage_data(i: int, names: list[str], folders: dict[str, Path], method: str, root: Path, args, seed: int) -> Path:
    """Set i's training folder; with replay, plus a sample of every earlier set's training records."""
    if "replay" not in method or i == 0:
        return folders[names[i]]
    from ils.dataset import read_split
    from ils.records import write_examples

    new = read_split(folders[names[i]], "train")
    earlier = [ex for n in names[:i] for ex in read_split(folders[n], "train")]
    rng = random.Random(seed)
    mixed = new + rng.sample(earlier, min(len(earlier), round(args.ratio * len(new))))
    rng.shuffle(mixed)
    dest = root / f"data-{i}"
    if not (dest / "train.jsonl").is_file():
        write_examples(dest / "train.jsonl", mixed)
    return dest


def options(method: str, i: int, previous: Path, folders: dict[str, Path], names: list[str], args) -> dict:
    """The continual options of stage i > 0 of ``method``."""
    opts: dict = {"previous": str(previous)}
    if method == "ewc":
        opts.update(ewc=args.ewc, ewc_data=str(folders[names[i - 1]]), ewc_samples=args.ewc_samples)
    if "lwf" in method:
        opts.update(lwf=args.lwf)
    if method == "adapters":
        opts.update(adapters=True)
    return opts


def run_method(method: str, seed: int, args: argparse.Namespace) -> dict:
    """One method's chain of three stages for one seed (in its own process): R, times, peak RSS."""
    folders = write_sets(make_sets(args), args)
    names = list(folders)
    root = args.out / f"seed{seed}"
    first, seconds = tune(args.model, folders[names[0]], root / "stage1", args, seed)
    matrix, times, previous = [score(str(first), folders, args.split, args)], [seconds], first
    for i in range(1, len(names)):
        data = stage_data(i, names, folders, method, root / method, args, seed)
        opts = options(method, i, previous, folders, names, args)
        previous, seconds = tune(args.model, data, root / method / f"stage{i + 1}", args, seed, **opts)
        matrix.append(score(str(previous), folders, args.split, args))
        times.append(seconds)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"method": method, "seed": seed, "sets": names, "R": matrix, "train_seconds": times, "peak_rss_mb": rss}


def alone(seed: int, args: argparse.Namespace) -> dict[str, float]:
    folders = write_sets(make_sets(args), args)
    out = {}
    for name, folder in folders.items():
        run, _ = tune(args.model, folder, args.out / f"seed{seed}" / f"alone-{name}", args, seed)
        out[name] = score(str(run), {name: folder}, args.split, args)[name]
    return out


def metrics(res: dict, alone_scores: dict[str, float]) -> dict:
    names, R = res["sets"], res["R"]
    final = R[-1]
    return {"acc": statistics.mean(final[n] for n in names),
            "bwt": statistics.mean(final[n] - R[j][n] for j, n in enumerate(names[:-1])),
            "vs_alone": statistics.mean(R[j][n] - alone_scores[n] for j, n in enumerate(names)),
            "worst_vs_alone": min(R[j][n] - alone_scores[n] for j, n in enumerate(names)),
            "seconds": sum(res["train_seconds"]), "rss_mb": res["peak_rss_mb"]}


def child(method: str, seed: int, args: argparse.Namespace) -> dict:
    """Run one method in a fresh process (its own peak RSS), passing the same arguments."""
    dest = args.out / f"seed{seed}" / f"{method}.json"
    if not dest.is_file():
        cmd = [sys.executable, __file__, *sys.argv[1:], "--one", f"{method}:{seed}"]
        subprocess.run(cmd, check=True)
    return json.loads(dest.read_text())


def table(rows: dict[str, list[dict]], args: argparse.Namespace) -> str:
    def ms(xs: list[float], fmt: str = "{:+.3f}") -> str:
        return fmt.format(statistics.mean(xs)) + (f" ± {statistics.stdev(xs):.3f}" if len(xs) > 1 else "")

    lines = ["| method | ACC (final, mean of sets) | BWT (forgetting < 0) | learned vs alone (mean) | worst set vs alone "
             "| train time s | peak RSS MB |", "|---|---|---|---|---|---|---|"]
    for method, ms_ in rows.items():
        col = lambda k: [m[k] for m in ms_]  # noqa: E731
        lines.append(f"| {method} | {ms(col('acc'), '{:.3f}')} | {ms(col('bwt'))} | {ms(col('vs_alone'))} | "
                     f"{ms(col('worst_vs_alone'))} | {statistics.mean(col('seconds')):.0f} | "
                     f"{max(col('rss_mb')):.0f} |")
    return "\n".join(lines) + (f"\n\nsets {list(SETS.items())} + SST-2, {args.steps} LoRA steps per stage, "
                               f"{args.n} train records per task, scored on {args.split} ({args.eval} per task), "
                               f"model {args.model}, seeds {args.seeds}, ewc {args.ewc}, lwf {args.lwf}, "
                               f"replay ratio {args.ratio}\n")


def plot(rows: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(rows)
    fig, ax = plt.subplots(figsize=(8, 3.8))
    for k, (key, label) in enumerate((("acc", "final accuracy"), ("bwt", "backward transfer"),
                                      ("vs_alone", "learned vs alone"))):
        ax.bar([i + (k - 1) * 0.27 for i in range(len(names))],
               [statistics.mean(m[key] for m in rows[n]) for n in names], 0.27, label=label)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.axhline(-0.05, color="grey", linewidth=0.6, linestyle="--")
    ax.set_xticks(range(len(names)), names)
    ax.set_title("three task sets in sequence: what each continual method keeps and learns")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path("bench-out/forgetting"))
    p.add_argument("--model", default="default")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--seeds", default="0")
    p.add_argument("--split", default="test", choices=("validation", "test"))
    p.add_argument("--steps", type=int, default=80, help="LoRA steps per stage")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--n", type=int, default=200, help="training records per task")
    p.add_argument("--eval", type=int, default=30, help="validation and test records per task")
    p.add_argument("--ratio", type=float, default=0.5, help="replay records per new record")
    p.add_argument("--ewc", type=float, default=1e4, help="EWC weight")
    p.add_argument("--ewc-samples", type=int, default=128)
    p.add_argument("--lwf", type=float, default=1.0, help="LwF weight")
    p.add_argument("--max-new-tokens", type=int, default=24)
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)
    return p.parse_args()


def main() -> None:
    args = parse()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.one:
        method, seed = args.one.split(":")
        res = run_method(method, int(seed), args)
        (args.out / f"seed{seed}" / f"{method}.json").write_text(json.dumps(res, indent=1))
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    alones = {s: alone(s, args) for s in seeds}
    rows = {m: [metrics(child(m, s, args), alones[s]) for s in seeds] for m in args.methods.split(",")}
    text = table(rows, args)
    (args.out / "forgetting.md").write_text(text)
    (args.out / "forgetting.json").write_text(json.dumps({"rows": rows, "alone": alones, "args": vars(args)},
                                                         default=str, indent=1))
    plot(rows, args.out / "forgetting.png")
    print(text)


if __name__ == "__main__":
    main()
