"""The dataset folder's ``manifest.json`` (machine-readable counts and drops) and ``report.md``.

Counts are given per stage, split, task, template, label and source; every dropped record is
listed with its stage and reason, so a figure in the report can be traced to the records behind it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from ils import __version__
from ils.io import sha256_file, write_json, write_text


def manifest(folder: Path, splits: dict[str, list], cfg: Any, log: Any) -> dict:
    items = [(s, it) for s, its in splits.items() for it in its]
    return {
        "ils_version": __version__,
        "config": cfg.model_dump(mode="json"),
        "splits": {s: len(v) for s, v in splits.items()},
        "stages": log.stages,
        "per_task": _count(items, lambda it: it.task.name),
        "per_template": _count(items, lambda it: f"{it.task.name}/{it.ex.template}"),
        "per_label": _count(items, lambda it: _label(it)),
        "per_source": _count(items, lambda it: cfg.sources[it.source].name or cfg.sources[it.source].path),
        "drops_by_reason": dict(Counter(f"{d['stage']}: {d['kind']}" for d in log.drops)),
        "drops": log.drops,
        "files": {f"{s}.jsonl": sha256_file(folder / f"{s}.jsonl") for s in splits},
        "inputs": {p: sha256_file(p) for p in dict.fromkeys(
            [s.path for s in cfg.sources] + [e.path for e in cfg.eval_sets])},
    }


def _label(it: Any) -> str:
    lab = it.task.label_of(it.raw.fields)
    return f"{it.task.name}/{lab}" if lab is not None else f"{it.task.name}/-"


def _count(items: list, key: Any) -> dict[str, dict[str, int]]:
    out: dict[str, Counter] = defaultdict(Counter)
    for split, it in items:
        out[key(it)][split] += 1
    return {k: dict(v) for k, v in sorted(out.items())}


def write(folder: Path, man: dict) -> None:
    write_json(folder / "manifest.json", man)
    write_text(folder / "report.md", markdown(man))


def markdown(man: dict) -> str:
    lines = ["# Dataset report", "", "Splits: " + ", ".join(f"{k} {v}" for k, v in man["splits"].items()),
             "", "## Stages", "", "| stage | in | out | dropped |", "|---|---:|---:|---:|"]
    lines += [f"| {s['stage']} | {s['in']} | {s['out']} | {s['dropped']} |" for s in man["stages"]]
    for title, key in (("Tasks", "per_task"), ("Templates", "per_template"), ("Labels", "per_label"),
                       ("Sources", "per_source")):
        lines += ["", f"## {title}", "", "| | train | validation | test |", "|---|---:|---:|---:|"]
        lines += [f"| {k} | " + " | ".join(str(v.get(s, 0)) for s in ("train", "validation", "test")) + " |"
                  for k, v in man[key].items()]
    lines += ["", "## Drops", "", "| stage: reason | records |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(man["drops_by_reason"].items())]
    lines += ["", "Every dropped record, with its source and full reason, is in `manifest.json` "
              "(`drops`).", ""]
    return "\n".join(lines)
