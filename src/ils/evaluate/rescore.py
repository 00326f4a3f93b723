"""Score saved predictions again with today's task parsers and metrics, without running a model.

A parser fix (or a new metric option) should not cost a second generation pass: every mode folder
keeps the raw output of each record in ``predictions.jsonl``, so re-judging it gives the report the
model would have got. An encoder's rows carry their answer, which is re-scored, not re-parsed;
likelihood fields are kept as they were (they do not depend on parsing). The combined reports above
the mode folders (``ils eval -o`` folders, a run's ``eval/``) are rewritten from the new scores.
"""

from __future__ import annotations

import json
from pathlib import Path

from ils.errors import EvalError
from ils.evaluate.judge import judged, overall, per_task, task_named, write_folder


def rescore_folder(folder: Path) -> dict:
    """Re-judge ``folder/predictions.jsonl`` and rewrite ``folder/report.json`` (and the predictions)."""
    preds, report_path = folder / "predictions.jsonl", folder / "report.json"
    if not preds.is_file() or not report_path.is_file():
        raise EvalError(f"{folder}: needs report.json and predictions.jsonl to rescore")
    saved = [json.loads(line) for line in preds.read_text(encoding="utf-8").splitlines() if line]
    rows = [judged(row, task_named(row["task"])) for row in saved]
    report = {k: v for k, v in json.loads(report_path.read_text()).items() if k != "overall"}
    report["tasks"] = per_task(rows)
    whole = overall(rows)
    report.update({"overall": whole} if whole else {})
    write_folder(folder, report, rows)
    return report


def rescore(root: str | Path) -> list[Path]:
    """Every mode folder under ``root`` (an ``ils eval`` output folder, a run folder, …)."""
    root = Path(root)
    folders = sorted(p.parent for p in root.rglob("predictions.jsonl") if (p.parent / "report.json").is_file())
    if not folders:
        raise EvalError(f"{root}: no report folder (report.json + predictions.jsonl) under it")
    reports = {folder: rescore_folder(folder) for folder in folders}
    for path in sorted(root.rglob("report.json")):
        _refresh_combined(path, reports)
    return folders


def _refresh_combined(path: Path, reports: dict[Path, dict]) -> None:
    """A combined report takes the new scores of the mode folders beside it, and new charts."""
    from ils.evaluate.report import write_combined

    combined = json.loads(path.read_text())
    if "modes" not in combined:
        return
    by_label = {r.get("model"): r for folder, r in reports.items() if folder.parent == path.parent}
    modes = {name: by_label.get(name, rep) for name, rep in combined["modes"].items()}
    write_combined(path.parent, modes, combined["config"])
