"""Long inputs on real text: the default model truncated to its context vs ``ils run`` (grounded map
answers, evidence-weighted reduce), with and without the chunk adapter.

Haystacks are real paragraphs (src/ils/tasks/haystack.py: SQuAD, CoNLL-2003, SemEval from --data,
or the paragraphs of any --text FILE), the evaluation share only; needles worded and placed by seed
among decoys (src/ils/tasks/longinput.py). Configs, per length, task and seed:
(a) the model given the input truncated to its context (head kept), one call;
(b) ``ils run`` with the base model: map-reduce (passkey, kv: value; qa: span; count: number) or the
    vartrack DAG plan (configs/plans/vartrack.yaml);
(c) the same with the chunk adapter (``--adapter RUN_DIR``; train one with ``--train-adapter``).
qa rows also run the same model and plan over the gold paragraph alone (``gold_f1``; ``gold_raw_f1``
is the map prompt's raw output there, no grounding).
Every (config, length) runs in its own subprocess so its wall time and peak RSS are its own.

    python bench/long_input.py --lengths 8000,64000 --seeds 5 --configs a,b --out OUT
    python bench/long_input.py --train-adapter runs/long-lora --steps 400 --chunk-tokens 1024
    python bench/long_input.py --lengths 1000000 --seeds 2 --tasks passkey,kv --configs b,c --adapter runs/long-lora
    python bench/long_input.py --squad 50 --out OUT   # all SQuAD dev paragraphs as one input, 50 questions

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
DATA = ROOT / ".." / "shared" / "data"
PLANS = {"passkey": "map-reduce", "kv": "map-reduce", "count": "map-reduce", "qa": "map-reduce",
         "vartrack": str(ROOT / "configs/plans/vartrack.yaml")}
NAMES = {"a": "(a) truncated", "b": "(b) ils run", "c": "(c) ils run + adapter"}


def load_suite_pool(data: Path, text: Path | None):
    """The evaluation share of the pool, and SQuAD questions when the data folder has them."""
    from ils.tasks.haystack import load_pool
    from ils.tasks.longinput import squad_questions

    pool = load_pool(text or data)
    squad = Path(data) / "squad_v1.1" / "dev-v1.1.json"
    return pool.share("eval"), squad_questions(squad) if squad.is_file() else None


def job(args: argparse.Namespace, cfg: str, length: int, tasks: list[str]) -> dict:
    """One (config, length) in this process: every task and seed; returns rows, time, peak RSS."""
    from ils.infer.protocol import Engine
    from ils.tasks.longinput import make_case

    pool, questions = load_suite_pool(args.data, args.text)
    engine = Engine.load(args.adapter if cfg == "c" else "default", batch_size=args.batch_size, dtype=args.dtype)
    rows, start = [], time.perf_counter()
    for task in tasks:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            case = make_case(task, length, seed, pool=pool, questions=questions)
            path = case.write(args.out / "cases" / f"{task}-{length}-{seed}.txt")
            row = truncated(engine, case, path) if cfg == "a" else planned(engine, case, path, args, cfg)
            rows.append({"task": task, "seed": seed, "gold": case.answer, "repeats": case.repeats(), **row,
                         **score(case, row["pred"])})
            if task == "qa":
                rows[-1].update(gold_paragraph(engine, case.instruction, case.answer, case.gold_paragraph,
                                               args.out / "runs" / f"gold-{cfg}-{path.stem}", args.chunk_tokens))
    return {"config": cfg, "length": length, "dtype": args.dtype, "chunk_tokens": args.chunk_tokens, "rows": rows,
            "seconds": time.perf_counter() - start,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def score(case, pred) -> dict:
    """Exact tasks: ok = exact match; qa: SQuAD F1 and exact match over the gold answers."""
    if case.task != "qa":
        ok = case.check(pred)
        return {"ok": ok, "score": float(ok)}
    from ils.evaluate.metrics.squad import _one

    em, f1 = _one(None if pred is None else str(pred), case.answer)
    return {"ok": em == 1.0, "score": f1}


def truncated(engine, case, path: Path) -> dict:
    """(a): the head of the input that fits the context, the instruction, one call."""
    from ils.infer.long import iter_units, read_blocks
    from ils.infer.protocol import Sampling
    from ils.infer.reducers import HINTS, ParseFailure, parse

    room = engine.context - 200
    kept, used = [], 0
    for unit in iter_units(read_blocks(path), 4000):
        n = engine.count_tokens(unit)
        if used + n > room:
            break
        kept.append(unit)
        used += n
    prompt = "\n\n".join(kept) + f"\n\n{case.instruction} {HINTS[case.kind]}"
    text = engine.chat([[{"role": "user", "content": prompt}]], Sampling(max_new_tokens=32))[0]
    try:
        return {"pred": parse(case.kind, text), "output": text}
    except ParseFailure:
        return {"pred": None, "output": text}


def planned(engine, case, path: Path, args: argparse.Namespace, cfg: str) -> dict:
    """(b)/(c): ``ils run`` with the task's plan, grounding and the weighted reduce on (their defaults)."""
    from ils.infer.longrun import run

    r = run(case.instruction, path, PLANS[case.task], case.kind, {"default": engine},
            args.out / "runs" / f"{cfg}-{path.stem}", chunk_tokens=args.chunk_tokens, batch_size=args.batch_size)
    contested = any(e["near_tie"] or e["tie"] for e in r["evidence"].values())
    return {"pred": r["answer"], "found": r["found"], "reason": r["reason"], "contested": contested,
            "chunks": r["chunks"], "tokens": r["tokens"], "calls": r["calls"], "ungrounded": r["maps"].get(
                "map", r["maps"].get("extract", {})).get("ungrounded", 0)}


def gold_paragraph(engine, question: str, answers: list[str], paragraph: str, folder: Path, chunk_tokens: int) -> dict:
    """The same model over the gold paragraph alone: the same plan (one chunk: grounded, weighed), and
    the map prompt's raw output too, so the long-document plan is compared like for like."""
    from ils.evaluate.metrics.squad import _one
    from ils.infer.longrun import run
    from ils.infer.plans import fill, map_reduce
    from ils.infer.protocol import Sampling

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "paragraph.txt").write_text(paragraph + "\n", encoding="utf-8")
    r = run(question, folder / "paragraph.txt", "map-reduce", "span", {"default": engine}, folder,
            chunk_tokens=chunk_tokens)
    step = map_reduce(question, "span").steps[0]
    prompt = fill(step.prompt, {"chunk": paragraph, "instruction": question})
    raw = engine.chat([[{"role": "user", "content": prompt}]], Sampling(max_new_tokens=step.max_new_tokens))[0]
    return {"gold_pred": r["answer"], "gold_f1": _one(r["answer"], answers)[1], "gold_raw": raw,
            "gold_raw_f1": _one(raw, answers)[1]}


def squad_job(args: argparse.Namespace) -> dict:
    """All SQuAD v1.1 dev paragraphs, in order, as one input; N seeded questions asked of it in ONE
    ``ils run`` (a map and a reduce step per question: the chunk comes first in the map prompt, so
    every question's prompt for a chunk shares that chunk's prefill through the prefix cache) vs the
    same model and map prompt over each question's gold paragraph alone. SQuAD F1 and EM for both."""
    from ils.evaluate.metrics.squad import squad
    from ils.infer.longrun import run
    from ils.infer.plans import Plan, Step
    from ils.infer.protocol import Engine
    from ils.infer.reducers import HINTS
    from ils.tasks.longinput import squad_questions

    questions = squad_questions(args.data)
    if args.squad_articles:  # a smaller document (smoke runs): the first K articles only
        titles = list(dict.fromkeys(q["title"] for q in questions))[: args.squad_articles]
        questions = [q for q in questions if q["title"] in titles]
    sample = random.Random(0).sample(questions, args.squad)
    doc = squad_document(args.out / "squad-dev.txt", questions)
    steps = []
    for i, q in enumerate(sample):
        steps += [Step(name=f"m{i}", kind="map", answer="span", max_new_tokens=32,
                       prompt="{{chunk}}\n\n" + q["question"].replace("{{", "{ {") + " " + HINTS["span"]),
                  Step(name=f"r{i}", kind="reduce", answer="span", reads=[f"m{i}"])]
    engine = Engine.load(args.adapter or "default", batch_size=args.batch_size, dtype=args.dtype)
    start = time.perf_counter()
    result = run("", doc, Plan(steps=steps), "span", {"default": engine}, args.out / "runs" / "squad-whole",
                 chunk_tokens=args.chunk_tokens, batch_size=args.batch_size)
    seconds = time.perf_counter() - start
    whole = [result["outputs"][f"r{i}"] for i in range(len(sample))]
    alone = [gold_paragraph(engine, q["question"], q["answers"], q["article"][q["index"]],
                            args.out / "runs" / f"squad-gold-{i}", args.chunk_tokens) for i, q in enumerate(sample)]
    golds = [q["answers"] for q in sample]
    rows = [{"question": q["question"], "gold": q["answers"], "whole_document": w, **a}
            for q, a, w in zip(sample, alone, whole)]
    return {"questions": len(sample), "chunks": result["chunks"], "tokens": result["tokens"], "seconds": seconds,
            "whole_document": squad(whole, golds), "gold_paragraph": squad([a["gold_pred"] for a in alone], golds),
            "gold_paragraph_raw": squad([a["gold_raw"] for a in alone], golds), "engine": result["engine"],
            "evidence": result["evidence"], "rows": rows}


def squad_document(dest: Path, questions: list[dict]) -> Path:
    """Every dev paragraph once, article by article, in the file's order."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    seen, paras = set(), []
    for q in questions:
        if q["title"] not in seen:
            seen.add(q["title"])
            paras += q["article"]
    dest.write_text("".join(p + "\n\n" for p in paras), encoding="utf-8")
    return dest


def train_adapter(args: argparse.Namespace) -> Path:
    """A LoRA on the map step exactly as the plans phrase it, on chunks of the pool's train share."""
    from ils.config import TrainConfig
    from ils.infer.plans import fill, map_reduce
    from ils.models.loading import load_tokenizer
    from ils.models.sources import resolve
    from ils.records import write_examples
    from ils.tasks.haystack import load_pool
    from ils.tasks.longtrain import chunk_examples
    from ils.train.loop import train

    tok = load_tokenizer(resolve("default"))

    def count(text: str) -> int:
        return len(tok(text, add_special_tokens=False).input_ids)

    def prompt(chunk: str, question: str, kind: str) -> str:
        return fill(map_reduce(question, kind).steps[0].prompt, {"chunk": chunk, "instruction": question})

    pool, dest = load_pool(args.text or args.data), args.train_adapter
    data = dest.parent / f"{dest.name}-data"
    write_examples(data / "train.jsonl", chunk_examples(pool, 4 * args.steps, args.chunk_tokens, count, prompt, seed=0))
    write_examples(data / "validation.jsonl", chunk_examples(pool, 60, args.chunk_tokens, count, prompt, seed=1))
    cfg = TrainConfig(data=str(data), output=str(dest), max_steps=args.steps, batch_size=4,
                      max_length=args.chunk_tokens + 96, eval_every=0, save_every=100, lr=3e-4)
    return train(cfg)


def report(results: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = ["| config | length | task | score | correct | found | close calls | gold-paragraph F1 | s/case | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, cfg in enumerate(sorted({r["config"] for r in results})):
        mine = sorted((r for r in results if r["config"] == cfg), key=lambda r: r["length"])
        for j, task in enumerate(sorted({x["task"] for r in mine for x in r["rows"]})):
            have = [r for r in mine if any(x["task"] == task for x in r["rows"])]
            ax.plot([r["length"] for r in have], [_mean(r, task, "score") for r in have], marker="os^vD"[j % 5],
                    color=f"C{i}", linestyle=["-", "--", ":"][j % 3], label=f"{NAMES[cfg]}, {task}")
            lines += [_line(cfg, r, task) for r in have]
    ax.set(xscale="log", xlabel="input tokens", ylabel="accuracy (qa: SQuAD F1)", ylim=(-0.05, 1.05),
           title="long-input suite, real-text haystacks")
    ax.legend(fontsize=7)
    fig.savefig(out / "accuracy_vs_length.png", dpi=120, bbox_inches="tight")
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _rows(r: dict, task: str) -> list[dict]:
    return [x for x in r["rows"] if x["task"] == task]


def _mean(r: dict, task: str, key: str) -> float:
    rows = [x for x in _rows(r, task) if key in x]
    return sum(float(x[key]) for x in rows) / len(rows) if rows else float("nan")


def _line(cfg: str, r: dict, task: str) -> str:
    rows = _rows(r, task)
    found = f"{sum(x.get('found', x['pred'] is not None) for x in rows)}/{len(rows)}"
    gold = f"{_mean(r, task, 'gold_f1'):.2f}" if task == "qa" else ""
    return (f"| {cfg} | {r['length']} | {task} | {_mean(r, task, 'score'):.2f} | {sum(x['ok'] for x in rows)}/{len(rows)} "
            f"| {found} | {sum(x.get('contested', False) for x in rows)} | {gold} | {r['seconds'] / len(r['rows']):.0f} "
            f"| {r['peak_rss_mb']:.0f} |")


def missing(results: list[dict], cfg: str, length: int, tasks: list[str], seeds: range) -> list[str]:
    """Tasks with a seed not yet scored at this config and length."""
    have = {(x["task"], x["seed"]) for r in results if (r["config"], r["length"]) == (cfg, length) for x in r["rows"]}
    return [t for t in tasks if any((t, s) not in have for s in seeds)]


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
           str(args.seeds), "--first-seed", str(args.first_seed), "--out", str(args.out), "--chunk-tokens",
           str(args.chunk_tokens), "--dtype", args.dtype, "--batch-size", str(args.batch_size), "--data", str(args.data)]
    cmd += ["--adapter", args.adapter] if args.adapter else []
    cmd += ["--text", str(args.text)] if args.text else []
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"job {cfg}:{length} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lengths", default="8000,64000")
    p.add_argument("--tasks", default="passkey,kv,count,vartrack,qa")
    p.add_argument("--configs", default="a,b")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--first-seed", type=int, default=0, help="seeds first..first+seeds-1 (e.g. 100: a validation set)")
    p.add_argument("--data", type=Path, default=DATA, help="data folder (squad_v1.1, conll2003, semeval2010_task8)")
    p.add_argument("--text", type=Path, help="build haystacks from this text file instead (qa still needs --data)")
    p.add_argument("--adapter", help="run folder of the chunk adapter, for config c")
    p.add_argument("--chunk-tokens", type=int, default=1024)
    p.add_argument("--batch-size", type=int, default=64, help="chunks sent to the engine at once")
    p.add_argument("--out", type=Path, default=Path("bench-out/long_input"))
    p.add_argument("--train-adapter", type=Path, help="train the chunk adapter into this run folder")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--squad", type=int, default=0, help="ask N SQuAD dev questions of all of SQuAD dev at once")
    p.add_argument("--squad-articles", type=int, default=0, help="with --squad: only the first K articles")
    p.add_argument("--dtype", default="auto", help="auto (bfloat16 only where the CPU has bf16 units) | bfloat16 | float32")
    p.add_argument("--job", help=argparse.SUPPRESS)
    args = p.parse_args()
    if not args.text and not args.data.is_dir():
        p.error(f"{args.data}: no data folder; give --data DIR or --text FILE")
    return args


def main() -> None:
    args = parse_args()
    tasks = args.tasks.split(",")
    if args.train_adapter:
        print(train_adapter(args))
    elif args.squad:
        out = squad_job(args)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "squad.json").write_text(json.dumps(out, indent=2, default=str))
        print(json.dumps({k: v for k, v in out.items() if k != "rows"}, default=str))
    elif args.job:
        cfg, length = args.job.split(":")
        print(json.dumps(job(args, cfg, int(length), tasks), default=str))
    else:
        sweep(args, tasks)


def sweep(args: argparse.Namespace, tasks: list[str]) -> None:
    saved = args.out / "results.json"  # a rerun into the same --out adds to (and skips) what is there
    results = json.loads(saved.read_text()) if saved.is_file() else []
    for length in map(int, args.lengths.split(",")):
        for cfg in args.configs.split(","):  # interleaved: every config at one length, then the next length
            todo = missing(results, cfg, length, tasks, range(args.first_seed, args.first_seed + args.seeds))
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
