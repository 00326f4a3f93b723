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
runs in its own process. The EWC and LwF weights are chosen on validation records, never on test: for
each candidate (--ewc, --lwf) the first seed's chain is trained up to the second set and scored on the
validation records of the two sets seen; the best continues to the third set and only its chain is
scored on test (replay+lwf takes lwf's weight; the replay ratio is fixed by --ratio). Writes
forgetting.json, forgetting.md and forgetting.png under --out.

    # about 25 min at OMP_NUM_THREADS=1 (one seed, small stages)
    PYTHONPATH=src python bench/forgetting.py --out bench-out/forgetting --steps 24 --batch-size 4 --n 60 \
        --eval 15 --ewc-samples 32
    PYTHONPATH=src python bench/forgetting.py --out bench-out/forgetting-full --seeds 0,1,2   # hours
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
                      lora=LoraOptions(r=16, alpha=32, dropout=0.0), max_steps=args.steps, batch_size=args.batch_size,
                      lr=args.lr, warmup_steps=min(5, args.steps // 4), eval_every=0, save_every=0, max_length=256,
                      continual=ContinualOptions(**continual))
    start = time.perf_counter()
    train(cfg)
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    (out / "bench-time.json").write_text(json.dumps({"seconds": seconds, "peak_rss_mb": rss}))
    return out, seconds


def score(ref: Path, folders: dict[str, Path], split: str, args: argparse.Namespace) -> dict[str, float]:
    """Each set's score on ``split`` (cached in the run folder: a stage shared by methods is scored once)."""
    from ils.dataset import read_split
    from ils.evaluate.judge import headline_score
    from ils.evaluate.routed import RoutedEngine, is_routed_run
    from ils.evaluate.runner import evaluate
    from ils.infer.engines import load_engine
    from ils.infer.protocol import Sampling

    cache = ref / f"bench-score-{split}.json"
    done = json.loads(cache.read_text()) if cache.is_file() else {}
    todo = {name: folder for name, folder in folders.items() if name not in done}
    if not todo:
        return {name: done[name] for name in folders}
    start = time.perf_counter()
    engine = RoutedEngine.load(str(ref)) if is_routed_run(ref) else load_engine(str(ref), "hf")
    try:
        for name, folder in todo.items():
            done[name] = headline_score(evaluate(engine, read_split(folder, split), None,
                                                 Sampling(args.max_new_tokens), label=str(ref), progress=False,
                                                 likelihood=False))
    finally:
        engine.close()
    cache.write_text(json.dumps(done))
    print(f"forgetting: scored {ref} on {split} ({', '.join(todo)}) in {time.perf_counter() - start:.0f}s",
          file=sys.stderr)
    return {name: done[name] for name in folders}


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


def candidates(method: str, args: argparse.Namespace) -> list[float | None]:
    """The values of the method's weight to choose among on validation (EWC: --ewc, LwF: --lwf)."""
    if method == "ewc":
        return [float(v) for v in args.ewc.split(",")]
    if "lwf" in method:
        return [float(v) for v in args.lwf.split(",")]
    return [None]


def variant(method: str, value: float | None) -> str:
    return method if value is None else f"{method}-{value:g}"


def options(method: str, value: float | None, i: int, previous: Path, folders: dict[str, Path], names: list[str],
            args) -> dict:
    """The continual options of stage i > 0 of ``method`` with its weight ``value``."""
    opts: dict = {"previous": str(previous)}
    if method == "ewc":
        opts.update(ewc=value, ewc_data=str(folders[names[i - 1]]), ewc_samples=args.ewc_samples)
    if "lwf" in method:
        opts.update(lwf=value)
    if method == "adapters":
        opts.update(adapters=True)
    return opts


def run_method(method: str, value: float | None, seed: int, split: str, args: argparse.Namespace) -> dict:
    """One method's chain for one seed (in its own process): R on ``split``, times, peak RSS. On validation
    the chain stops after the second set, whose run is scored on the two sets seen (what the weight is
    chosen by: keeping set 1 while learning set 2); the test chain of the chosen weight reuses that run."""
    folders = write_sets(make_sets(args), args)
    names = list(folders)
    root = args.out / f"seed{seed}"
    stages = len(names) if split == "test" else 2
    runs = [tune(args.model, folders[names[0]], root / "stage1", args, seed)[0]]
    for i in range(1, stages):
        data = stage_data(i, names, folders, method, root / method, args, seed)
        opts = options(method, value, i, runs[-1], folders, names, args)
        runs.append(tune(args.model, data, root / variant(method, value) / f"stage{i + 1}", args, seed, **opts)[0])
    if split == "test":
        matrix = [score(r, folders, split, args) for r in runs]
    else:
        matrix = [score(runs[-1], {n: folders[n] for n in names[:stages]}, split, args)]
    stats = [json.loads((r / "bench-time.json").read_text()) for r in runs]
    return {"method": method, "value": value, "seed": seed, "split": split, "sets": names, "R": matrix,
            "train_seconds": [s["seconds"] for s in stats],
            "peak_rss_mb": max(s.get("peak_rss_mb", 0) for s in stats[1:])}


def alone(seed: int, args: argparse.Namespace) -> dict[str, float]:
    """Each set tuned alone from the base; the first set's is stage 1 itself (the same run)."""
    folders = write_sets(make_sets(args), args)
    names, root = list(folders), args.out / f"seed{seed}"
    out = {names[0]: score(tune(args.model, folders[names[0]], root / "stage1", args, seed)[0],
                           {names[0]: folders[names[0]]}, "test", args)[names[0]]}
    for name in names[1:]:
        run, _ = tune(args.model, folders[name], root / f"alone-{name}", args, seed)
        out[name] = score(run, {name: folders[name]}, "test", args)[name]
    return out


def metrics(res: dict, alone_scores: dict[str, float]) -> dict:
    names, R = res["sets"], res["R"]
    final = R[-1]
    return {"acc": statistics.mean(final[n] for n in names),
            "bwt": statistics.mean(final[n] - R[j][n] for j, n in enumerate(names[:-1])),
            "vs_alone": statistics.mean(R[j][n] - alone_scores[n] for j, n in enumerate(names)),
            "worst_vs_alone": min(R[j][n] - alone_scores[n] for j, n in enumerate(names)),
            "seconds": sum(res["train_seconds"][1:]), "rss_mb": res["peak_rss_mb"], "value": res["value"]}


def child(method: str, value: float | None, seed: int, split: str, args: argparse.Namespace) -> dict:
    """Run one method in a fresh process (its own peak RSS), passing the same arguments."""
    dest = args.out / f"seed{seed}" / f"{variant(method, value)}-{split}.json"
    if not dest.is_file():
        cmd = [sys.executable, __file__, *sys.argv[1:], "--one", f"{method}:{value}:{seed}:{split}"]
        subprocess.run(cmd, check=True)
    return json.loads(dest.read_text())


def choose(method: str, seed: int, args: argparse.Namespace) -> tuple[float | None, dict]:
    """The weight whose chain scores best on the validation records of the first two sets after learning
    the second (mean of the two). replay+lwf takes the weight chosen for lwf."""
    method = "lwf" if method == "replay+lwf" else method
    values = candidates(method, args)
    if len(values) == 1:
        return values[0], {}
    on_val = {v: statistics.mean(child(method, v, seed, "validation", args)["R"][-1].values()) for v in values}
    return max(values, key=lambda v: on_val[v]), {f"{v:g}": round(s, 4) for v, s in on_val.items()}


def table(rows: dict[str, list[dict]], chosen: dict, args: argparse.Namespace) -> str:
    def ms(xs: list[float], fmt: str = "{:+.3f}") -> str:
        return fmt.format(statistics.mean(xs)) + (f" ± {statistics.stdev(xs):.3f}" if len(xs) > 1 else "")

    lines = [("| method | weight (chosen on validation) | seeds | ACC (final, mean of sets) | BWT (forgetting < 0) "
              "| learned vs alone (mean) | worst set vs alone | train time s (stages 2-3) | peak RSS MB |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for method, per_seed in rows.items():
        col = {k: [m[k] for m in per_seed] for k in per_seed[0]}
        value = col["value"][0]
        grid = args.ewc if method == "ewc" else args.lwf
        lines.append(f"| {method} | {'' if value is None else f'{value:g} of {grid}'} | {len(per_seed)} | "
                     f"{ms(col['acc'], '{:.3f}')} | {ms(col['bwt'])} | {ms(col['vs_alone'])} | "
                     f"{ms(col['worst_vs_alone'])} | {statistics.mean(col['seconds']):.0f} | "
                     f"{max(col['rss_mb']):.0f} |")
    return "\n".join(lines) + (f"\n\nsets {list(SETS.items())} + SST-2, {args.steps} LoRA steps of {args.batch_size} "
                               f"per stage, {args.n} train records per task, scored on test ({args.eval} per task), "
                               f"model {args.model}, seeds {args.seeds} (every seed: {args.all_seeds}), "
                               f"validation ACC per weight {chosen}, replay ratio {args.ratio}\n")


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
    p.add_argument("--all-seeds", default="all", help="methods run on every seed (the others on the first only)")
    p.add_argument("--steps", type=int, default=80, help="LoRA steps per stage")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--n", type=int, default=200, help="training records per task")
    p.add_argument("--eval", type=int, default=30, help="validation and test records per task")
    p.add_argument("--ratio", type=float, default=0.5, help="replay records per new record")
    p.add_argument("--ewc", default="1e3,1e5", help="EWC weights to choose among on validation")
    p.add_argument("--ewc-samples", type=int, default=128)
    p.add_argument("--lwf", default="0.3,1", help="LwF weights to choose among on validation")
    p.add_argument("--max-new-tokens", type=int, default=24)
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)
    return p.parse_args()


def one(args: argparse.Namespace) -> None:
    method, value, seed, split = args.one.split(":")
    res = run_method(method, None if value == "None" else float(value), int(seed), split, args)
    (args.out / f"seed{seed}" / f"{variant(method, res['value'])}-{split}.json").write_text(json.dumps(res, indent=1))


def main() -> None:
    args = parse()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.one:
        return one(args)
    seeds = [int(s) for s in args.seeds.split(",")]
    methods = args.methods.split(",")
    every = set(methods if args.all_seeds == "all" else args.all_seeds.split(","))
    chosen = {m: choose(m, seeds[0], args) for m in methods}  # on the first seed's validation records
    alones = {s: alone(s, args) for s in seeds if s == seeds[0] or every}
    rows = {m: [metrics(child(m, chosen[m][0], s, "test", args), alones[s]) for s in seeds
                if s == seeds[0] or m in every] for m in methods}
    text = table(rows, {m: c[1] for m, c in chosen.items() if c[1]}, args)
    (args.out / "forgetting.md").write_text(text)
    (args.out / "forgetting.json").write_text(json.dumps({"rows": rows, "alone": alones, "chosen": chosen,
                                                          "args": vars(args)}, default=str, indent=1))
    plot(rows, args.out / "forgetting.png")
    print(text)


if __name__ == "__main__":
    main()
