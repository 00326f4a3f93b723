"""Round trip: parse each reference output back and compare with the gold answer.

For NER and QA this must be 100%: a miss means a template writes an answer its parser cannot read
back, and a model trained on that data would be scored against the wrong spans.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ils.errors import RecordError
from ils.tasks import get_task
from ils.tasks.templates import render_template


def roundtrip(task_name: str, path: str | Path, options: dict[str, Any] | None = None,
              limit: int | None = None, max_misses: int = 20) -> dict[str, Any]:
    """Figures per template: records checked, exact matches, share, and the first misses."""
    task = get_task(task_name).configure(**(options or {}))
    checked, exact, invalid, misses = 0, 0, 0, []
    for rec in task.read(path):
        if isinstance(rec, RecordError):
            invalid += 1
            continue
        if limit is not None and checked >= limit * _n(task):
            break
        variables = task.variables(rec.fields)
        for tpl in (t for t in task.templates if not t.inverted):
            checked += 1
            ok = task.roundtrip(render_template(tpl, variables)[2], rec.fields)
            exact += ok
            if not ok and len(misses) < max_misses:
                misses.append({"source": rec.where, "template": tpl.name})
    share = exact / checked if checked else 1.0
    return {"task": task_name, "path": str(path), "checked": checked, "exact": exact,
            "share": share, "invalid": invalid, "misses": misses}


def _n(task: Any) -> int:
    return sum(1 for t in task.templates if not t.inverted)
