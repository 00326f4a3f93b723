"""Put earlier evaluation reports side by side: per task and mode, the score and its delta to the first.

Reads one shape, the combined report that ``ils eval -o`` writes and every run folder keeps in
``eval/``: give the output folder, its report.json, or the run folder. Every mode of every report
becomes one column, named ``folder/mode``; where several tasks share one metric, a last row scores
all their records together (``overall``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ils.errors import EvalError, RecordError
from ils.io import parse_json, read_text


def load_report(path: str | Path, prefix: bool = True) -> dict[str, dict]:
    """{column name: mode report} from an evaluation folder, a run folder or a report.json; columns are
    named ``folder/mode`` (``mode`` alone without ``prefix``)."""
    path = Path(path)
    name = path.name if path.is_dir() else path.parent.name
    if (path / "ils.json").is_file():
        path = path / "eval"
    file = path / "report.json" if path.is_dir() else path
    if not file.is_file():
        raise EvalError(f"{path}: no report.json here (give an `ils eval` output folder, a run folder "
                        "or a report.json)")
    data = parse_json(read_text(file), file, None)
    if isinstance(data, RecordError):
        raise EvalError(str(data))
    if not isinstance(data, dict):
        raise EvalError(f"{file}: not an ILS evaluation report (not a JSON object)")
    if "modes" not in data:
        raise EvalError(f"{file}: not a combined ILS evaluation report (no 'modes'); give the folder "
                        "`ils eval -o` wrote or the run folder, not one mode's report")
    column = lambda mode: (f"{name}/" if prefix else "") + (Path(mode).name if "/" in mode else mode)  # noqa: E731
    return {column(mode): rep for mode, rep in data["modes"].items()}


def compare_reports(paths: Sequence[str | Path]) -> dict:
    """{columns, rows: [{task, metric, kind, values: [...], deltas: [...]}]} (deltas against column 0)."""
    columns: dict[str, dict] = {}
    for p in paths:
        columns.update(load_report(p, prefix=len(paths) > 1))
    tasks = sorted({t for rep in columns.values() for t in rep["tasks"]})
    rows = []
    for task in tasks:
        for kind in ("parsed", "likelihood"):
            values = [_value(rep, task, kind) for rep in columns.values()]
            if any(v is not None for v in values):
                metric = next(
                    rep["tasks"][task]["metric"] for rep in columns.values() if task in rep["tasks"]
                )
                rows.append(
                    {
                        "task": task,
                        "metric": metric,
                        "kind": kind,
                        "values": values,
                        "unparseable": [
                            rep["tasks"].get(task, {}).get("unparseable") for rep in columns.values()
                        ],
                        "deltas": [None if v is None or values[0] is None else v - values[0] for v in values],
                    }
                )
    whole = _overall_row(list(columns.values()), len(tasks))
    return {"columns": list(columns), "rows": rows + ([whole] if whole else [])}


def _overall_row(reports: list[dict], n_tasks: int) -> dict | None:
    """The ``overall`` row: only over several tasks that share one metric in every column."""
    wholes = [rep.get("overall") for rep in reports]
    metrics = {w["metric"] for w in wholes if w}
    if n_tasks < 2 or not all(wholes) or len(metrics) != 1:
        return None
    values = [w["score"] for w in wholes]
    return {"task": "overall", "metric": metrics.pop(), "kind": "parsed", "values": values,
            "unparseable": [w.get("unparseable") for w in wholes],
            "deltas": [v - values[0] for v in values]}


def _value(rep: dict, task: str, kind: str) -> float | None:
    r = rep["tasks"].get(task)
    if r is None:
        return None
    return r["score"] if kind == "parsed" else r.get("likelihood", {}).get("score")


def rich_compare(result: dict):
    from rich.table import Table

    table = Table(title="comparison (Δ against the first column)")
    for col in ("task", "metric", "scored by"):
        table.add_column(col)
    for name in result["columns"]:
        table.add_column(name, justify="right")
    for r in result["rows"]:
        cells = [_cell(v, d, i) for i, (v, d) in enumerate(zip(r["values"], r["deltas"]))]
        if r["kind"] == "parsed":
            cells = [c + (f"\n{u} unparseable" if u else "") for c, u in zip(cells, r["unparseable"])]
        table.add_row(r["task"], r["metric"], r["kind"], *cells)
    return table


def _cell(value: float | None, delta: float | None, i: int) -> str:
    if value is None:
        return "–"
    if i == 0 or delta is None:
        return f"{value:.3f}"
    colour = "green" if delta > 0 else "red" if delta < 0 else "white"
    return f"{value:.3f} [{colour}]({delta:+.3f})[/]"
