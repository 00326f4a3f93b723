"""Score a generative model on a test set through the engine protocol: generate, then judge.

Prompts are the records' conversations, or few-shot chats (exemplars as earlier turns, trimmed to
fit ``engine.context`` by ``engine.count_tokens``). Outputs are judged by ``ils.evaluate.judge``.
Tasks with a closed answer set (``Task.answer_choices()``) are also scored by likelihood, log
P(option | prompt), in the same pass (``generate_scored``: the engine reads each prompt once for
both); an engine that cannot score skips it. Records whose
task is not registered are scored by exact match of the stripped output unless ``strict``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ils.evaluate.fewshot import fit_chat
from ils.evaluate.judge import make_row, report, task_of, write_folder
from ils.infer.protocol import Engine, Sampling
from ils.records import Example
from ils.tasks import Task


def evaluate(engine: Engine, examples: list[Example], out_dir: str | Path | None = None,
             sampling: Sampling | None = None, label: str = "", progress: bool = True, *,
             shots: Sequence[Sequence[Example]] | None = None, likelihood: bool = True,
             strict: bool = False, info: dict | None = None) -> dict:
    """Score ``examples``; write report.json (with ``info``) and predictions.jsonl to ``out_dir``."""
    start, sampling = time.perf_counter(), sampling or Sampling()
    tasks = [task_of(ex, strict) for ex in examples]
    chats, kept = build_chats(engine, examples, shots, sampling.max_new_tokens)
    options = [list(t.answer_choices() or ()) if likelihood else [] for t in tasks]
    done, scores = engine.generate_scored(chats, sampling, options, progress=progress)
    rows = [make_row(ex, t, c.text, shots=k) for ex, t, c, k in zip(examples, tasks, done, kept)]
    if scores is not None:
        add_likelihood(rows, tasks, scores)
    result = report(label, rows, time.perf_counter() - start, shots=_shots(shots, kept), **(info or {}))
    if out_dir is not None:
        write_folder(Path(out_dir), result, rows)
    return result


def build_chats(engine: Engine, examples: list[Example], shots: Sequence[Sequence[Example]] | None,
                max_new_tokens: int) -> tuple[list[list[dict]], list[int]]:
    """Zero-shot chats, or few-shot chats each trimmed to leave ``max_new_tokens`` in the context."""
    if not shots:
        return [ex.prompt_messages for ex in examples], [0] * len(examples)
    budget = engine.context - max_new_tokens
    fitted = [fit_chat(list(s), ex, engine.count_tokens, budget)
              for ex, s in zip(examples, shots, strict=True)]
    return [c for c, _ in fitted], [k for _, k in fitted]


def _shots(shots: Any, kept: list[int]) -> dict:
    asked = max((len(s) for s in shots), default=0) if shots else 0
    return {"k": asked, "mean_kept": sum(kept) / len(kept) if kept else 0.0,
            "trimmed": sum(k < asked for k in kept)}


def add_likelihood(rows: list[dict], tasks: list[Task], scores: list[list[float]]) -> None:
    """Fill ``ll_*`` fields of rows whose task has options: scores, the winning answer, correct?"""
    for i, s in ((i, s) for i, s in enumerate(scores) if s):
        best = max(range(len(s)), key=lambda j: s[j])
        answer = tasks[i].option_answers()[best]
        rows[i].update(ll_scores=[round(x, 4) for x in s], ll_parsed=answer,
                       ll_correct=tasks[i].correct(answer, rows[i]["reference"]))
