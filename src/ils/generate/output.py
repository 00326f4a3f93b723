"""The dataset folder of a self-instruct run: splits, manifest, report and the two diversity plots.

Split with the data pipeline's grouped splitter (``ils.data.split.assign_splits``: all instances of
one task go to one split) and written by the one dataset-folder writer (``ils.dataset``), so the
folder has the files and manifest core of every other dataset folder; the run's own counts and
plots join them. The folder also holds the resumable ``work/`` journals, so files are written one
by one into it rather than swapped in as a whole.
The build pipeline itself is not called: it renders raw task records through task templates, and a
generated task is already an instruction. Plots follow the paper's diversity analysis: a histogram
of each new instruction's highest ROUGE-L against the seeds, and the most common verb–object pairs
(crude: the first word when it reads as an imperative verb, then the next content word; no parser).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from ils.data.split import assign_splits
from ils.dataset import write_dataset as write_folder
from ils.generate.journal import Journal
from ils.records import Example

FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}
NOT_VERBS = {"what", "how", "why", "who", "when", "where", "which", "is", "are", "can", "could", "do", "does",
             "would", "should", "will", "given", "please", "if", "in", "for", "the", "a", "an", "i", "you", "we",
             "my", "your", "this", "there", "it", "as", "suppose", "imagine", "let", "here", "based", "using"}
SKIP = {"a", "an", "the", "me", "us", "some", "this", "that", "these", "those", "following", "given", "your",
        "my", "its", "their", "of", "to", "out", "up", "down", "all", "each", "every", "one", "two", "three",
        "new", "short", "simple", "brief", "good", "list", "and", "or", "how", "what", "whether", "if", "it"}


def to_examples(rec: dict) -> list[Example]:
    out = []
    for k, inst in enumerate(rec["instances"]):
        answer = {"solution": rec["solution"], "tests": rec["tests"]} if rec.get("solution") else None
        out.append(Example.from_alpaca(rec["instruction"], inst["input"], inst["output"],
                                       task="code" if answer else "self-instruct", template=rec.get("kind"),
                                       id=f"{rec['id']}-{k}", answer=answer, source=f"self-instruct round {rec['round']}",
                                       meta={"is_classification": rec.get("is_classification", False)}))
    return out


def write_dataset(out_dir: str | Path, seed: int = 0, info: dict | None = None) -> dict:
    """Write splits, manifest.json, report.md and plots/ from ``out_dir/work``; returns the manifest."""
    out = Path(out_dir)
    kept = Journal(out / "work" / "generated.jsonl").read()
    drops = Journal(out / "work" / "drops.jsonl").read()
    rounds = Journal(out / "work" / "rounds.jsonl").read()
    exs = [ex for rec in kept for ex in to_examples(rec)]
    splits = assign_splits([ex.id.rsplit("-", 1)[0] for ex in exs], [None] * len(exs), FRACTIONS, seed)
    parts = {name: [ex for ex, s in zip(exs, splits) if s == name] for name in FRACTIONS}
    plots = out / "plots"
    plots.mkdir(exist_ok=True)
    shown = [str(p.relative_to(out)) for p in (rouge_histogram(kept, plots / "rouge_vs_seeds.png"),
                                               verb_object_plot(kept, plots / "verb_object.png"))]
    extra = {**summary(kept, drops, rounds, exs, info or {}), "plots": shown}
    return write_folder(out, parts, "self-instruct", drops=[_drop(d) for d in drops], extra=extra,
                        sections=markdown, atomic=False)


def summary(kept: list[dict], drops: list[dict], rounds: list[dict], exs: list, info: dict) -> dict:
    reasons = Counter(_reason(d["reason"]) for d in drops)
    candidates = len(kept) + sum(1 for d in drops if d.get("instruction"))
    scores = [k["max_rouge_seed"] for k in kept]
    return {**info, "kept_tasks": len(kept), "examples": len(exs),
            "candidates": candidates, "kept_fraction": round(len(kept) / candidates, 4) if candidates else 0.0,
            "by_kind": dict(Counter(k.get("kind", "") for k in kept)),
            "classification": sum(1 for k in kept if k.get("is_classification")),
            "dropped": dict(reasons.most_common()), "rounds": rounds,
            "rouge_vs_seeds": {"mean": round(sum(scores) / len(scores), 4) if scores else None,
                               "below_0.3": sum(s < 0.3 for s in scores)},
            "top_verb_object": [f"{v} {o}: {c}" for (v, o), c in verb_objects(kept).most_common(20)]}


def _drop(d: dict) -> dict:
    """A journal drop in the manifest's shape."""
    return {"stage": d.get("stage", ""), "kind": _reason(d["reason"]), "source": f"round {d.get('round')}",
            "id": None, "reason": d["reason"], "instruction": d.get("instruction", "")}


def _reason(reason: str) -> str:
    """Group drop reasons: cut the detail (scores, quotes, error text) after ' (' or ': '."""
    r = reason.split(" (")[0]
    return r if r.startswith("blacklisted") else r.split(": ")[0]


def verb_objects(kept: list[dict]) -> Counter:
    pairs: Counter = Counter()
    for k in kept:
        words = re.findall(r"[a-z]+", k["instruction"].lower())
        if len(words) < 2 or words[0] in NOT_VERBS:
            continue
        obj = next((w for w in words[1:6] if w not in SKIP and len(w) > 2), None)
        if obj:
            pairs[(words[0], obj)] += 1
    return pairs


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def rouge_histogram(kept: list[dict], path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist([k["max_rouge_seed"] for k in kept], bins=[i / 20 for i in range(21)], color="#4472c4")
    ax.set_xlabel("highest ROUGE-L with a seed instruction")
    ax.set_ylabel("new instructions")
    ax.set_title(f"Similarity to the seed tasks ({len(kept)} kept)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def verb_object_plot(kept: list[dict], path: Path, top: int = 20) -> Path:
    plt = _plt()
    common = verb_objects(kept).most_common(top)[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.3 * max(len(common), 4) + 1))
    ax.barh([f"{v} {o}" for (v, o), _ in common], [c for _, c in common], color="#ed7d31")
    ax.set_xlabel("instructions")
    ax.set_title("Top verb–object pairs (first verb + next content word)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def markdown(man: dict) -> list[str]:
    """The self-instruct sections of report.md, after the common tables."""
    lines = ["", "## Self-instruct", "",
             f"- kept tasks: {man['kept_tasks']} of {man['candidates']} candidate instructions "
             f"(kept fraction {man['kept_fraction']:.1%}); examples: {man['examples']}",
             f"- classification tasks: {man['classification']}; by kind: {man['by_kind']}",
             f"- mean highest ROUGE-L with a seed: {man['rouge_vs_seeds']['mean']}", "",
             "## Rounds\n", "| round | kept | pool | dropped |", "|---:|---:|---:|---|"]
    lines += [f"| {r['round']} | {r['kept']} | {r['pool']} | {', '.join(f'{k}: {v}' for k, v in r['dropped'].items())} |"
              for r in man["rounds"]]
    lines += ["", "## Top verb–object pairs\n", *[f"- {p}" for p in man["top_verb_object"]], "",
              "![ROUGE-L vs seeds](plots/rouge_vs_seeds.png)", "![verb-object](plots/verb_object.png)"]
    return lines
