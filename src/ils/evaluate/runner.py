"""Run a model over a test set: batched generation, the task's parser, the task's metric.

Outputs the parser cannot read (``Task.parse`` → ``None``) are counted per task and scored as wrong.
Tasks with a closed answer set (``Task.answer_choices()``) are also scored by likelihood (see likelihood.py),
and both numbers are reported. Few-shot exemplars, when given, become earlier chat turns, trimmed to
fit the model's context. Records whose task is not registered are scored by exact match of the
stripped output unless ``strict``, so any Example file can be evaluated.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ils.errors import EvalError
from ils.evaluate.fewshot import context_length, fit_chat, token_counter
from ils.evaluate.metrics import get_metric
from ils.infer.engine import Engine, Sampling
from ils.io import atomic_path, dumps, write_json
from ils.records import Example
from ils.tasks import TASKS, Task, load_builtins

PLAIN = Task()


def task_of(ex: Example, strict: bool = False) -> Task:
    task = task_named(ex.task)
    if task is PLAIN and strict:
        where = ex.source or ex.id or "a test record"
        raise EvalError(
            f"{where}: task: {ex.task!r} has no registered parser (known tasks: "
            f"{', '.join(TASKS.names())}); pass --plain to score by exact text match"
        )
    return task


def task_named(name: str | None) -> Task:
    """The registered task, or PLAIN (exact text match) for an unknown or missing name."""
    load_builtins()
    return TASKS.get(name) if name and name in TASKS else PLAIN


def gold_of(ex: Example, task: Task) -> Any:
    return ex.answer if ex.answer is not None else task.parse(ex.response)


def evaluate(
    engine: Engine,
    examples: list[Example],
    out_dir: str | Path | None = None,
    sampling: Sampling | None = None,
    label: str = "",
    progress: bool = True,
    *,
    shots: Sequence[Sequence[Example]] | None = None,
    likelihood: bool = True,
    strict: bool = False,
) -> dict:
    """Score ``examples``; write report.json and predictions.jsonl to ``out_dir`` when given."""
    start, sampling = time.perf_counter(), sampling or Sampling()
    tasks = [task_of(ex, strict) for ex in examples]
    chats, kept = build_chats(engine, examples, shots, sampling.max_new_tokens)
    outputs = engine.chat(chats, sampling, progress)
    rows = [_row(ex, t, out, k) for ex, t, out, k in zip(examples, tasks, outputs, kept)]
    if likelihood:
        _add_likelihood(engine, rows, tasks, chats)
    report = {
        "model": label,
        "n": len(rows),
        "seconds": round(time.perf_counter() - start, 2),
        "shots": _shots_summary(shots, kept),
        "tasks": _per_task(rows),
        "overall": _overall(rows),
    }
    if out_dir is not None:
        _write(Path(out_dir), report, rows)
    return report


def build_chats(
    engine: Engine, examples: list[Example], shots: Sequence[Sequence[Example]] | None, max_new_tokens: int
) -> tuple[list[list[dict]], list[int]]:
    """Zero-shot chats, or few-shot chats each trimmed to leave ``max_new_tokens`` in the context."""
    if not shots:
        return [ex.prompt_messages for ex in examples], [0] * len(examples)
    budget = context_length(engine.model) - max_new_tokens
    count = token_counter(engine.tok)
    fitted = [fit_chat(list(s), ex, count, budget) for ex, s in zip(examples, shots, strict=True)]
    return [c for c, _ in fitted], [k for _, k in fitted]


def _shots_summary(shots: Any, kept: list[int]) -> dict:
    asked = max((len(s) for s in shots), default=0) if shots else 0
    return {
        "k": asked,
        "mean_kept": sum(kept) / len(kept) if kept else 0.0,
        "trimmed": sum(k < asked for k in kept),
    }


def _row(ex: Example, task: Task, output: str, kept: int) -> dict:
    row = {"id": ex.id, "task": ex.task or "unknown", "metric": task.metric, "input": ex.instruction,
           "reference": gold_of(ex, task), "output": output, "shots": kept}
    return judged(row, task)


def judged(row: dict, task: Task) -> dict:
    """The row with its output parsed by ``task`` and compared with its reference."""
    parsed = task.parse(row["output"])
    return {**row, "parsed": parsed, "unparseable": parsed is None,
            "correct": parsed is not None and parsed == row["reference"]}


def _add_likelihood(engine: Engine, rows: list[dict], tasks: list[Task], chats: list[list[dict]]) -> None:
    """Fill ``ll_*`` fields of rows whose task has options: scores, the winning answer, correct?"""
    idx = [i for i, t in enumerate(tasks) if t.answer_choices()]
    if not idx:
        return
    from ils.evaluate.likelihood import choose

    scores = engine.score([chats[i] for i in idx], [tasks[i].answer_choices() for i in idx])
    for i, s in zip(idx, scores):
        answer = tasks[i].option_answers()[choose(s)]
        rows[i].update(
            ll_scores=[round(x, 4) for x in s], ll_parsed=answer, ll_correct=answer == rows[i]["reference"]
        )


def _per_task(rows: list[dict]) -> dict:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[r["task"]].append(r)
    return {name: _score(rs) for name, rs in sorted(groups.items())}


def _score(rs: list[dict]) -> dict:
    metric, refs = rs[0]["metric"], [r["reference"] for r in rs]
    scores = get_metric(metric)([r["parsed"] for r in rs], refs)
    out = {
        **scores,
        "metric": metric,
        "score": scores["score"],
        "n": len(rs),
        "unparseable": sum(r["unparseable"] for r in rs),
    }
    if "ll_parsed" in rs[0]:
        out["likelihood"] = get_metric(metric)([r["ll_parsed"] for r in rs], refs)
    return out


def _overall(rows: list[dict]) -> dict:
    hits = sum(r["correct"] for r in rows)
    out = {
        "metric": "exact_match",
        "score": hits / len(rows) if rows else 0.0,
        "correct": hits,
        "unparseable": sum(r["unparseable"] for r in rows),
    }
    ll = [r["ll_correct"] for r in rows if "ll_correct" in r]
    if ll:
        out["likelihood"] = {"n": len(ll), "correct": sum(ll), "score": sum(ll) / len(ll)}
    return out


def _write(out: Path, report: dict, rows: list[dict]) -> None:
    write_json(out / "report.json", report)
    with atomic_path(out / "predictions.jsonl") as tmp:
        tmp.write_text("".join(dumps(r) + "\n" for r in rows))
