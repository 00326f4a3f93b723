"""Score saved predictions again with today's task parsers and metrics, without running a model.

A parser fix (or a new metric option) should not cost a second generation pass: every report folder
keeps the raw output of each record in ``predictions.jsonl``, so re-parsing it gives the report the
model would have got. Likelihood fields are kept as they were (they do not depend on parsing).
"""

from __future__ import annotations

import json
from pathlib import Path

from ils.errors import EvalError
from ils.evaluate.runner import _overall, _per_task, _write, judged, task_named


def rescore_folder(folder: Path) -> dict:
    """Re-parse ``folder/predictions.jsonl`` and rewrite ``folder/report.json`` (and the predictions)."""
    preds, report_path = folder / "predictions.jsonl", folder / "report.json"
    if not preds.is_file() or not report_path.is_file():
        raise EvalError(f"{folder}: needs report.json and predictions.jsonl to rescore")
    saved = [json.loads(line) for line in preds.read_text(encoding="utf-8").splitlines() if line]
    rows = [judged(row, task_named(row["task"])) for row in saved]
    report = {**json.loads(report_path.read_text()), "tasks": _per_task(rows), "overall": _overall(rows)}
    _write(folder, report, rows)
    return report


def rescore(root: str | Path) -> list[Path]:
    """Every report folder under ``root``; a run folder's before/after comparison and plot follow."""
    root = Path(root)
    folders = sorted(p.parent for p in root.rglob("predictions.jsonl") if (p.parent / "report.json").is_file())
    if not folders:
        raise EvalError(f"{root}: no report folder (report.json + predictions.jsonl) under it")
    reports = {folder: rescore_folder(folder) for folder in folders}
    _refresh_combined(root, reports)
    _refresh_run(root)
    return folders


def _refresh_combined(root: Path, reports: dict[Path, dict]) -> None:
    """The combined report of ``ils eval --compare`` takes each mode's new scores and charts."""
    from ils.evaluate.report import write_combined

    path = root / "report.json"
    if root in reports or not path.is_file() or "modes" not in (combined := json.loads(path.read_text())):
        return
    by_label = {r.get("model"): r for r in reports.values()}
    modes = {name: {**rep, **{k: by_label[name][k] for k in ("tasks", "overall")}} if name in by_label else rep
             for name, rep in combined["modes"].items()}
    write_combined(root, modes, combined["config"])


def _refresh_run(root: Path) -> None:
    from ils.io import RunDir
    from ils.train.evalhook import write_comparison

    run = RunDir(root)
    if run.is_run() and (run.eval / "comparison.json").is_file():
        write_comparison(run)
