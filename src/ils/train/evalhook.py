"""Before/after evaluation of a run (the ``eval:`` block of a train config).

The base model is scored before training and the tuned model after, on the same test records, so
every run folder carries its own before/after numbers in ``eval/`` and ``plots/eval.png``.
"""

from __future__ import annotations

from pathlib import Path

from ils.config import TrainConfig
from ils.evaluate.modes import Engines, Mode, parse_mode, run_mode
from ils.evaluate.runner import evaluate
from ils.infer.engine import Engine, Sampling
from ils.io import RunDir, atomic_path, write_json
from ils.train.data import read_split


def _test_records(cfg: TrainConfig) -> list:
    return read_split(cfg.eval.test, "test", cfg.eval.limit)


def _sampling(cfg: TrainConfig) -> Sampling:
    return Sampling(max_new_tokens=cfg.eval.max_new_tokens)


def eval_before(cfg: TrainConfig, run: RunDir) -> dict | None:
    """Score the base model (zero-shot and the ``modes`` baselines) unless a resumed run already did."""
    if cfg.eval is None or cfg.eval.test is None:
        return None
    engines = Engines(cfg.eval.batch_size)
    for spec in cfg.eval.modes:
        _baseline(cfg, run, parse_mode(spec, cfg.model), engines)
    dest = run.eval / "before"
    if (dest / "report.json").is_file():
        return None
    return evaluate(engines.get(cfg.model), _test_records(cfg), dest, _sampling(cfg), label=f"{cfg.model} (base)")


def _baseline(cfg: TrainConfig, run: RunDir, mode: Mode, engines: Engines) -> None:
    """One prompt-learning baseline (few-shot exemplars drawn from the training data) into eval/<mode>/."""
    dest = run.eval / _slug(mode.name)
    if (dest / "report.json").is_file():
        return
    train = read_split(cfg.data, "train", cfg.limit) if mode.kind == "few-shot" else None
    run_mode(mode, _test_records(cfg), train, engines, dest, _sampling(cfg), cfg.seed, strict=False)


def _slug(name: str) -> str:
    return "before" if name == "zero-shot" else name.replace(":", "-")


def eval_after(cfg: TrainConfig, run: RunDir) -> dict | None:
    """Score the run as saved (what users will load), not the in-memory training copy."""
    if cfg.eval is None or cfg.eval.test is None:
        return None
    engine = Engine.load(str(run.root), cfg.eval.batch_size)
    report = evaluate(engine, _test_records(cfg), run.eval / "after", _sampling(cfg), label=str(run.root))
    write_comparison(run)
    return report


def write_comparison(run: RunDir) -> None:
    """eval/comparison.json and plots/eval.png from the reports under eval/."""
    write_json(run.eval / "comparison.json", compare(run))
    plot_before_after(run)


def compare(run: RunDir) -> dict:
    """{task: {metric, before, after, ...}} from the two reports (see ``_row``)."""
    import json

    before = json.loads((run.eval / "before" / "report.json").read_text())
    after = json.loads((run.eval / "after" / "report.json").read_text())
    rows = {t: _row(before["tasks"].get(t, {}), a) for t, a in after["tasks"].items()}
    rows["overall"] = {"metric": "exact_match", "before": before["overall"]["score"],
                       "after": after["overall"]["score"]}
    for name, report in _baselines(run).items():
        for task, row in rows.items():
            scored = report["overall"] if task == "overall" else report["tasks"].get(task, {})
            row[name] = scored.get("score")
    return rows


def _baselines(run: RunDir) -> dict[str, dict]:
    """{mode name: report} of the prompt-learning baselines scored before training (eval/few-shot-*/)."""
    import json

    reports = [json.loads(p.read_text()) for p in sorted(run.eval.glob("few-shot-*/report.json"))]
    return {r["model"]: r for r in reports}  # run_mode labels each report with its mode's name


def _row(before: dict, after: dict) -> dict:
    """Scores by parsed output; unparseable counts and likelihood scores too when the reports have them."""
    row = {"metric": after["metric"], "before": before.get("score"), "after": after["score"]}
    if "unparseable" in after:
        row.update(before_unparseable=before.get("unparseable"), after_unparseable=after["unparseable"])
    if "likelihood" in after:
        row.update(before_likelihood=before.get("likelihood", {}).get("score"),
                   after_likelihood=after["likelihood"]["score"])
    return row


def plot_before_after(run: RunDir) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = compare(run)
    names = list(rows)
    series = ["before", *(k for k in rows["overall"] if k not in ("metric", "before", "after")), "after"]
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(6, len(names) * 0.4 * len(series)), 4))
    for i, key in enumerate(series):
        label = {"before": "zero-shot (base)", "after": "tuned"}.get(key, f"{key} (base)")
        xs = [x + (i - (len(series) - 1) / 2) * width for x in range(len(names))]
        ax.bar(xs, [rows[n].get(key) or 0 for n in names], width, label=label)
    ax.set_xticks(list(range(len(names))), names, rotation=35, ha="right")
    ax.set_ylabel("score")
    ax.set_ylim(0, 1)
    ax.legend()
    dest = run.plots / "eval.png"
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return dest
