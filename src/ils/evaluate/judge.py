"""Judge predictions, whichever model made them: the task's parser, its ``correct``, its metric.

A row is one test record with the model's output: generated text (parsed by the task) or, from an
encoder head, the answer itself (``answer``; its text form is kept as ``output`` for reading). Rows
are judged, grouped per task and scored by the task's own scorer or its metric family; the report
and ``predictions.jsonl`` of a mode folder are written here, so generation, encoder heads and
``ils rescore`` produce the same files. Outputs the parser cannot read (``None``) are counted per
task and scored as wrong.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from ils.errors import EvalError
from ils.evaluate.metrics import get_metric
from ils.io import atomic_path, dumps, write_json
from ils.records import Example
from ils.tasks import TASKS, Task

PLAIN = Task()
EXACT = ("exact_match", "accuracy")  # metrics whose score is the share of records judged correct


def task_named(name: str | None) -> Task:
    """The registered task, or PLAIN (exact text match) for an unknown or missing name."""
    return TASKS.get(name) if name and name in TASKS else PLAIN


def task_of(ex: Example, strict: bool = False) -> Task:
    task = task_named(ex.task)
    if task is PLAIN and strict:
        where = ex.source or ex.id or "a test record"
        raise EvalError(f"{where}: task: {ex.task!r} has no registered parser (known tasks: "
                        f"{', '.join(TASKS.names())}); pass --plain to score by exact text match")
    return task


def gold_of(ex: Example, task: Task) -> Any:
    return ex.answer if ex.answer is not None else task.parse(ex.response)


def make_row(ex: Example, task: Task, output: str, **extra: Any) -> dict:
    """A judged row; ``extra`` may hold ``answer`` (an encoder's answer: not parsed from text)."""
    row = {"id": ex.id, "task": ex.task or "unknown", "metric": task.metric, "input": ex.instruction,
           "reference": gold_of(ex, task), "output": output, **extra}
    return judged(row, task)


def judged(row: dict, task: Task) -> dict:
    """The row with its output parsed by ``task`` (unless it carries an answer) and judged."""
    parsed = row["answer"] if "answer" in row else task.parse(row["output"])
    return {**row, "parsed": parsed, "unparseable": parsed is None,
            "correct": task.correct(parsed, row["reference"])}


def score(rows: list[dict], predictions: list[Any], task: Task) -> dict:
    refs = [r["reference"] for r in rows]
    return task.compute(predictions, refs) or get_metric(task.metric)(predictions, refs)


def per_task(rows: list[dict]) -> dict:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[r["task"]].append(r)
    return {name: _task_scores(rs, task_named(name)) for name, rs in sorted(groups.items())}


def _task_scores(rs: list[dict], task: Task) -> dict:
    scores = score(rs, [r["parsed"] for r in rs], task)
    out = {**scores, "metric": rs[0]["metric"], "score": scores["score"], "n": len(rs),
           "unparseable": sum(r["unparseable"] for r in rs)}
    if "ll_parsed" in rs[0]:
        out["likelihood"] = score(rs, [r["ll_parsed"] for r in rs], task)
    return out


def overall(rows: list[dict]) -> dict | None:
    """All records scored together, where that means something: several tasks sharing one metric. An
    exact-match-like metric gives the share of records answered right; another metric (ROUGE over
    two summarization sets) is computed on all rows at once. None for one task (its row says it all)
    and when the metrics differ: no "overall exact_match" beside ROUGE, which would only say that
    summaries are never verbatim."""
    metrics = {r["metric"] for r in rows}
    if len(metrics) != 1 or len({r["task"] for r in rows}) < 2:
        return None
    metric = metrics.pop()
    hits = sum(r["correct"] for r in rows)
    out = {"metric": metric, "score": hits / len(rows), "correct": hits,
           "unparseable": sum(r["unparseable"] for r in rows)}
    if metric not in EXACT:
        task = task_named(rows[0]["task"])
        out["score"] = score(rows, [r["parsed"] for r in rows], task)["score"]
    ll = [r["ll_correct"] for r in rows if "ll_correct" in r]
    if ll:
        out["likelihood"] = {"n": len(ll), "correct": sum(ll), "score": sum(ll) / len(ll)}
    return out


def headline_score(report: dict) -> float:
    """One number for a mode report: its overall score, else the mean of its tasks' scores."""
    if report.get("overall"):
        return report["overall"]["score"]
    scores = [t["score"] for t in report["tasks"].values()]
    return sum(scores) / len(scores) if scores else 0.0


def report(label: str, rows: list[dict], seconds: float, **extra: Any) -> dict:
    out = {"model": label, "n": len(rows), "seconds": round(seconds, 2), **extra, "tasks": per_task(rows)}
    whole = overall(rows)
    return {**out, "overall": whole} if whole else out


def write_folder(out: Path, report: dict, rows: list[dict]) -> None:
    """A mode folder: ``report.json`` and ``predictions.jsonl`` (one judged row per record)."""
    write_json(out / "report.json", report)
    with atomic_path(out / "predictions.jsonl") as tmp:
        tmp.write_text("".join(dumps(r) + "\n" for r in rows))
