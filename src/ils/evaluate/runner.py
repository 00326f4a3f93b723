"""Score a generative model on a test set through the engine protocol: generate, then judge.

Prompts are the records' conversations, or few-shot chats (exemplars as earlier turns, trimmed to
fit ``engine.context`` by ``engine.count_tokens``). Outputs are judged by ``ils.evaluate.judge``.
Tasks with a closed answer set (``Task.answer_choices()``) are also scored by likelihood, the
engine's ``score`` (log P(option | prompt)); an engine that cannot score skips it. Records whose
task is not registered are scored by exact match of the stripped output unless ``strict``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ils.evaluate.fewshot import fit_chat
from ils.evaluate.judge import make_row, report, task_of, write_folder
from ils.infer.protocol import Engine, EngineError, Sampling
from ils.progress import Working
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
    outputs = engine.chat(chats, sampling, progress)
    rows = [make_row(ex, t, out, shots=k) for ex, t, out, k in zip(examples, tasks, outputs, kept)]
    if likelihood:
        with Working(f"eval {label}: scoring answer options by likelihood", show=progress):
            add_likelihood(engine, rows, tasks, chats)
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


def add_likelihood(engine: Engine, rows: list[dict], tasks: list[Task], chats: list[list[dict]]) -> None:
    """Fill ``ll_*`` fields of rows whose task has options: scores, the winning answer, correct?"""
    idx = [i for i, t in enumerate(tasks) if t.answer_choices()]
    if not idx:
        return
    try:
        scores = engine.score([chats[i] for i in idx], [tasks[i].answer_choices() for i in idx])
    except EngineError:
        return  # this backend exposes no log-probabilities: parsed scores only
    for i, s in zip(idx, scores):
        best = max(range(len(s)), key=lambda j: s[j])
        answer = tasks[i].option_answers()[best]
        rows[i].update(ll_scores=[round(x, 4) for x in s], ll_parsed=answer,
                       ll_correct=tasks[i].correct(answer, rows[i]["reference"]))
