"""Run a model over a test set: batched generation, the task's parser, the task's metric.

Records whose task is not registered are scored by exact match of the stripped output against the
reference response, so any Example file can be evaluated.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from ils.evaluate.metrics import get_metric
from ils.infer.engine import Engine, Sampling
from ils.io import atomic_path, write_json
from ils.records import Example
from ils.tasks import TASKS, Task, load_builtins

PLAIN = Task()


def task_of(ex: Example) -> Task:
    load_builtins()
    return TASKS.get(ex.task) if ex.task and ex.task in TASKS else PLAIN


def gold_of(ex: Example, task: Task) -> Any:
    return ex.answer if ex.answer is not None else task.parse(ex.response)


def evaluate(engine: Engine, examples: list[Example], out_dir: str | Path | None = None,
             sampling: Sampling | None = None, label: str = "", progress: bool = True) -> dict:
    """Score ``examples``; write report.json and predictions.jsonl to ``out_dir`` when given."""
    start = time.perf_counter()
    outputs = engine.chat([ex.prompt_messages for ex in examples], sampling or Sampling(), progress)
    rows = [_row(ex, out) for ex, out in zip(examples, outputs)]
    report = {"model": label, "n": len(rows), "seconds": round(time.perf_counter() - start, 2),
              "tasks": _per_task(rows), "overall": _overall(rows)}
    if out_dir is not None:
        _write(Path(out_dir), report, rows)
    return report


def _row(ex: Example, output: str) -> dict:
    task = task_of(ex)
    parsed, gold = task.parse(output), gold_of(ex, task)
    return {"id": ex.id, "task": ex.task or "unknown", "metric": task.metric, "prompt": ex.instruction,
            "reference": gold, "output": output, "parsed": parsed, "correct": parsed == gold}


def _per_task(rows: list[dict]) -> dict:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[r["task"]].append(r)
    out = {}
    for name, rs in sorted(groups.items()):
        metric = rs[0]["metric"]
        scores = get_metric(metric)([r["parsed"] for r in rs], [r["reference"] for r in rs])
        out[name] = {"metric": metric, "score": scores[metric], "n": len(rs), **scores}
    return out


def _overall(rows: list[dict]) -> dict:
    hits = sum(r["correct"] for r in rows)
    return {"metric": "exact_match", "score": hits / len(rows) if rows else 0.0, "correct": hits}


def _write(out: Path, report: dict, rows: list[dict]) -> None:
    write_json(out / "report.json", report)
    with atomic_path(out / "predictions.jsonl") as tmp:
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows))
