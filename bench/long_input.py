"""Long inputs: the default model truncated to its context vs ``ils run`` (base, and base + a LoRA
tuned on chunk-level sub-tasks), on the synthetic long-input suite at several lengths.

For each length, task and seed a case is generated (src/ils/tasks/longinput.py) and scored:
(a) the model given the input truncated to its context (head kept), one call;
(b) ``ils run`` with the base model: map-reduce (passkey, kv: value vote; count: sum) or the
    vartrack DAG plan (configs/plans/vartrack.yaml);
(c) the same with ``--adapter RUN_DIR`` (train one with ``--train-adapter``).
Every (config, length) runs in its own subprocess so its wall time and peak RSS are its own.

    nice -n 10 python bench/long_input.py --lengths 4000,8000 --tasks passkey,kv --configs a,b
    python bench/long_input.py --train-adapter runs/long-lora --steps 300   # chunk-level LoRA
    python bench/long_input.py --lengths 1000000 --tasks passkey --configs c --adapter runs/long-lora

    python bench/long_input.py --squad 5        # SQuAD dev as one ~300k-token document, 5 questions

Writes OUT/results.json, OUT/results.md and OUT/accuracy_vs_length.png.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLANS = {"passkey": ("map-reduce", "value"), "kv": ("map-reduce", "value"), "count": ("map-reduce", "number"),
         "vartrack": (str(ROOT / "configs/plans/vartrack.yaml"), "list")}


def job(cfg: str, length: int, tasks: list[str], seeds: int, out: Path, adapter: str | None,
        chunk_tokens: int, dtype: str = "float32") -> dict:
    """One (config, length) in this process: every task and seed; returns scores, time, peak RSS."""
    from ils.infer.engine import Engine
    from ils.tasks.longinput import make_case

    engine = Engine.load(adapter if cfg == "c" else "default", batch_size=8, dtype=dtype)
    rows, start = [], time.perf_counter()
    for task in tasks:
        for seed in range(seeds):
            case = make_case(task, length, seed)
            path = case.write(out / "cases" / f"{task}-{length}-{seed}.txt")
            pred = truncated(engine, case, path) if cfg == "a" else planned(engine, case, path, out, cfg, chunk_tokens)
            rows.append({"task": task, "seed": seed, "pred": pred, "gold": case.answer, "ok": case.check(pred)})
    return {"config": cfg, "length": length, "dtype": dtype, "rows": rows, "seconds": time.perf_counter() - start,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def truncated(engine, case, path: Path):
    """(a): the head of the input that fits the context, the instruction, one call."""
    from ils.infer.engine import Sampling
    from ils.infer.execute import context_of
    from ils.infer.long import iter_units, read_blocks, token_counter
    from ils.infer.reducers import HINTS, ParseFailure, parse

    count, room = token_counter(engine.tok), context_of(engine) - 200
    kept, used = [], 0
    for unit in iter_units(read_blocks(path), 4000):
        n = count(unit)
        if used + n > room:
            break
        kept.append(unit)
        used += n
    prompt = "\n\n".join(kept) + f"\n\n{case.instruction} {HINTS[case.kind]}"
    text = engine.chat([[{"role": "user", "content": prompt}]], Sampling(max_new_tokens=32))[0]
    try:
        return parse(case.kind, text)
    except ParseFailure:
        return None


def planned(engine, case, path: Path, out: Path, cfg: str, chunk_tokens: int):
    """(b)/(c): ``ils run`` with the task's plan."""
    from ils.infer.longrun import run

    plan, kind = PLANS[case.task]
    result = run(case.instruction, path, plan, kind, {"default": engine}, out / "runs" / f"{cfg}-{path.stem}",
                 chunk_tokens=chunk_tokens)
    return result["answer"]


def train_adapter(dest: Path, steps: int, n: int = 600, chunk_tokens: int = 1024) -> Path:
    """A LoRA on the map sub-tasks exactly as the plans phrase them: passkey-or-NONE, value-or-NONE,
    count per chunk, extract assignments; chunks cut from suite documents by the real chunker."""
    from ils.config import TrainConfig
    from ils.records import write_examples
    from ils.train.loop import train

    data = dest.parent / f"{dest.name}-data"
    write_examples(data / "train.jsonl", chunk_examples(max(n, 4 * steps), chunk_tokens, seed=0))  # one epoch
    write_examples(data / "validation.jsonl", chunk_examples(40, chunk_tokens, seed=1))
    cfg = TrainConfig(data=str(data), output=str(dest), max_steps=steps, batch_size=4, max_length=chunk_tokens + 96,
                      eval_every=0, save_every=100, lr=3e-4)
    return train(cfg)


def chunk_examples(n: int, chunk_tokens: int, seed: int, keep_empty: float = 0.1,
                   keep_distractor: float = 0.4) -> list:
    """Map-step examples; chunks without the answer are kept with probability ``keep_empty`` so that
    about half the answers are NONE (kept all, 90% are NONE and the LoRA learns to always say it),
    and kv chunks with other keys' pairs (hard negatives) with probability ``keep_distractor``."""
    from ils.infer.long import chunk_units, token_counter
    from ils.infer.plans import fill, map_reduce
    from ils.infer.reducers import render
    from ils.models.loading import load_tokenizer
    from ils.models.sources import resolve
    from ils.records import Example
    from ils.tasks.longinput import make_case

    count, rng, out = token_counter(load_tokenizer(resolve("default"))), random.Random(seed), []
    while len(out) < n:
        # a count case gives an example per chunk, a passkey/kv case about two: weigh cases to even it out
        task = rng.choices(["passkey", "kv", "count"], weights=[0.45, 0.45, 0.1])[0]
        case = make_case(task, rng.choice([3000, 6000]), seed=rng.randrange(10**6))
        _, kind = PLANS[task]
        step = map_reduce(case.instruction, kind).steps[0]
        for chunk in chunk_units(case.paragraphs(), count, rng.choice([chunk_tokens // 2, chunk_tokens]), 0):
            gold = _chunk_answer(case, chunk.text)
            if gold in (None, 0) and rng.random() > (keep_distractor if _distractor(case, chunk.text) else keep_empty):
                continue
            prompt = fill(step.prompt, {"chunk": chunk.text, "instruction": case.instruction})
            out.append(Example.from_alpaca(prompt, "", render(kind, gold), task=f"long_{task}",
                                           answer=gold, source=f"bench/long_input:{task}"))
    return out[:n]


def _distractor(case, text: str) -> bool:
    """A kv chunk holding other keys' pairs but not the one asked: a hard negative (answer NONE).
    Without these the LoRA learned "answer the value in the chunk" and returned a neighbour key's value."""
    return case.task == "kv" and 'The value of key "' in text


def _chunk_answer(case, text: str):
    import re

    if case.task == "count":
        return text.count("apple")
    if case.task == "passkey":
        return case.answer if case.answer in text else None
    m = re.search(r'key "([\w-]+)"', case.instruction)
    found = re.search(rf'key "{m.group(1)}" is (\d+)', text)
    return found.group(1) if found else None


def squad_job(n_questions: int, out: Path, adapter: str | None, chunk_tokens: int, dtype: str = "float32") -> dict:
    """All SQuAD v1.1 dev paragraphs as one document; a seeded sample of questions asked of the whole
    document with ``ils run`` (map-reduce, text answers) vs of the gold paragraph alone; SQuAD F1."""
    from ils.infer.engine import Engine, Sampling
    from ils.infer.longrun import run

    doc, qas = squad_document(out / "squad-dev.txt")
    sample = random.Random(0).sample(qas, n_questions)
    engine = Engine.load(adapter or "default", batch_size=8, dtype=dtype)
    alone = engine.chat([[{"role": "user", "content": f"{p}\n\n{q} Answer with a short phrase."}]
                         for q, p, _ in sample], Sampling(max_new_tokens=24))
    whole = [str(run(q + " Answer with a short phrase.", doc, "map-reduce", "text", {"default": engine},
                     out / "runs" / f"squad-{i}", chunk_tokens=chunk_tokens)["answer"]) for i, (q, _, _) in enumerate(sample)]
    f1 = lambda preds: sum(max(squad_f1(p, g) for g in golds) for p, (_, _, golds) in zip(preds, sample)) / len(sample)
    rows = [{"question": q, "gold": golds, "gold_paragraph": a, "whole_document": w}
            for (q, _, golds), a, w in zip(sample, alone, whole)]
    return {"questions": n_questions, "f1_gold_paragraph": f1(alone), "f1_whole_document": f1(whole), "rows": rows}


def squad_document(dest: Path) -> tuple[Path, list]:
    data = json.loads((ROOT / ".." / "shared" / "data" / "squad_v1.1" / "dev-v1.1.json").read_text())
    qas = []
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "w", encoding="utf-8") as f:
        for article in data["data"]:
            for para in article["paragraphs"]:
                f.write(para["context"].strip() + "\n\n")
                qas += [(qa["question"], para["context"], [a["text"] for a in qa["answers"]]) for qa in para["qas"]]
    return dest, qas


def squad_f1(pred: str, gold: str) -> float:
    """The official SQuAD v1.1 token F1 (lower-case, no punctuation or articles)."""
    import re
    import string
    from collections import Counter

    def norm(s):
        s = "".join(ch for ch in s.lower() if ch not in set(string.punctuation))
        return re.sub(r"\b(a|an|the)\b", " ", s).split()

    p, g = norm(pred), norm(gold)
    common = sum((Counter(p) & Counter(g)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def _accuracy(r: dict, task: str) -> float:
    rows = [x for x in r["rows"] if x["task"] == task]
    return sum(x["ok"] for x in rows) / len(rows)


def _correct(r: dict, task: str) -> str:
    rows = [x for x in r["rows"] if x["task"] == task]
    return f"{sum(x['ok'] for x in rows)}/{len(rows)}"


def report(results: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = ["| config | length | task | accuracy | correct | seconds per case | peak RSS MB |",
             "|---|---|---|---|---|---|---|"]
    fig, ax = plt.subplots(figsize=(7, 4))
    names = {"a": "(a) truncated", "b": "(b) ils run", "c": "(c) ils run + LoRA"}
    for i, cfg in enumerate(sorted({r["config"] for r in results})):
        mine = sorted((r for r in results if r["config"] == cfg), key=lambda r: r["length"])
        for j, task in enumerate(sorted({x["task"] for r in mine for x in r["rows"]})):
            accs = [_accuracy(r, task) for r in mine]
            ax.plot([r["length"] for r in mine], accs, marker="os^"[j % 3], color=f"C{i}",
                    linestyle=["-", "--", ":"][j % 3], label=f"{names[cfg]}, {task}")
            lines += [f"| {cfg} | {r['length']} | {task} | {_accuracy(r, task):.2f} | {_correct(r, task)} "
                      f"| {r['seconds'] / len(r['rows']):.0f} | {r['peak_rss_mb']:.0f} |" for r in mine]
    ax.set(xscale="log", xlabel="input tokens", ylabel="accuracy", ylim=(-0.05, 1.05), title="long-input suite")
    ax.legend(fontsize=8)
    fig.savefig(out / "accuracy_vs_length.png", dpi=120, bbox_inches="tight")
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def missing(results: list[dict], cfg: str, length: int, tasks: list[str], seeds: int) -> list[str]:
    """Tasks with a seed not yet scored at this config and length."""
    have = {(x["task"], x["seed"]) for r in results if (r["config"], r["length"]) == (cfg, length) for x in r["rows"]}
    return [t for t in tasks if any((t, s) not in have for s in range(seeds))]


def merge(results: list[dict], new: dict) -> None:
    """One entry per (config, length): a later run with other tasks or seeds adds its rows and time."""
    for r in results:
        if (r["config"], r["length"]) == (new["config"], new["length"]):
            seen = {(x["task"], x["seed"]) for x in r["rows"]}
            r["rows"] += [x for x in new["rows"] if (x["task"], x["seed"]) not in seen]
            r["seconds"] += new["seconds"]
            r["peak_rss_mb"] = max(r["peak_rss_mb"], new["peak_rss_mb"])
            return
    results.append(new)


def run_job(args: argparse.Namespace, cfg: str, length: int, tasks: list[str]) -> dict:
    """One (config, length) in a fresh subprocess, so its wall time and peak RSS are its own."""
    cmd = [sys.executable, __file__, "--job", f"{cfg}:{length}", "--tasks", ",".join(tasks), "--seeds",
           str(args.seeds), "--out", str(args.out), "--chunk-tokens", str(args.chunk_tokens), "--dtype", args.dtype]
    cmd += ["--adapter", args.adapter] if args.adapter else []
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lengths", default="4000,8000")
    p.add_argument("--tasks", default="passkey,kv,count,vartrack")
    p.add_argument("--configs", default="a,b")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--adapter", help="run folder of the chunk-level LoRA, for config c")
    p.add_argument("--chunk-tokens", type=int, default=1024)
    p.add_argument("--out", type=Path, default=Path("bench-out/long_input"))
    p.add_argument("--train-adapter", type=Path, help="train the chunk-level LoRA into this run folder")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--squad", type=int, default=0, help="also ask N SQuAD dev questions of all of SQuAD dev")
    p.add_argument("--dtype", default="float32", help="float32 | bfloat16 (about 2x faster on bf16 CPUs)")
    p.add_argument("--job", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.train_adapter:
        print(train_adapter(args.train_adapter, args.steps, chunk_tokens=args.chunk_tokens))
        return
    tasks = args.tasks.split(",")
    if args.squad:
        print(json.dumps(squad_job(args.squad, args.out, args.adapter, args.chunk_tokens, args.dtype)))
        return
    if args.job:
        cfg, length = args.job.split(":")
        print(json.dumps(job(cfg, int(length), tasks, args.seeds, args.out, args.adapter, args.chunk_tokens,
                                  args.dtype)))
        return
    saved = args.out / "results.json"  # a rerun into the same --out adds to (and skips) what is there
    results = json.loads(saved.read_text()) if saved.is_file() else []
    for length in map(int, args.lengths.split(",")):
        for cfg in args.configs.split(","):  # interleaved: every config at one length, then the next length
            todo = missing(results, cfg, length, tasks, args.seeds)
            if not todo:
                continue
            new = run_job(args, cfg, length, todo)
            print(f"{cfg} {length}: {sum(x['ok'] for x in new['rows'])}/{len(new['rows'])} "
                  f"in {new['seconds']:.0f}s, {new['peak_rss_mb']:.0f} MB", flush=True)
            merge(results, new)
            args.out.mkdir(parents=True, exist_ok=True)
            saved.write_text(json.dumps(results, indent=2, default=str))
    report(results, args.out)


if __name__ == "__main__":
    main()
