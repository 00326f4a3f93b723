"""Score an encoder-head run on a test set: the head predicts, the task turns that into its answer.

The run folder says which head it trained (``ils.json``: ``head``); each record's task gives the
head input (``Task.head_input``) and turns the head's output into the task's answer form
(``Task.from_head``), so the rows are judged and reported exactly as generated ones are.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ils.errors import EvalError
from ils.evaluate.judge import make_row, report, task_of, write_folder
from ils.progress import Working
from ils.records import Example


def is_encoder_run(ref: str | Path) -> bool:
    info = Path(ref) / "ils.json"
    return info.is_file() and bool(json.loads(info.read_text()).get("head"))


def evaluate_encoder(run: str | Path, examples: list[Example], out_dir: str | Path | None = None,
                     label: str = "", strict: bool = True, info: dict | None = None,
                     progress: bool = False) -> dict:
    """Score ``examples`` with the head run ``run``; write the mode folder to ``out_dir`` when given."""
    from ils.models.heads import HeadSpec, get_head
    from ils.models.loading import load_run

    start = time.perf_counter()
    model, tok, desc = load_run(Path(run))
    spec = HeadSpec.from_dict(desc["run"]["head"])
    tasks = [task_of(ex, strict) for ex in examples]
    for ex, task in zip(examples, tasks):
        if task.head != spec.kind:
            raise EvalError(f"{ex.source or ex.id}: task '{task.name}' is not learned by the {spec.kind} "
                            f"head of {run} (its head: {task.head})")
    inputs = [t.head_input(ex) for ex, t in zip(examples, tasks)]
    with Working(f"eval {label or run}: the {spec.kind} head predicts {len(inputs)} records", show=progress):
        outputs = get_head(spec.kind).predict(model, tok, inputs, spec)
    answers = [t.from_head(o, ex) for ex, t, o in zip(examples, tasks, outputs)]
    rows = [make_row(ex, t, t.answer_text(a), answer=a) for ex, t, a in zip(examples, tasks, answers)]
    result = report(label or str(run), rows, time.perf_counter() - start, **(info or {}))
    if out_dir is not None:
        write_folder(Path(out_dir), result, rows)
    return result
