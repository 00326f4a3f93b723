"""What ``ils data build`` adds to the common dataset manifest (``ils.dataset``) and its report.

Beside the counts every dataset folder has (per split, task and template, every drop), a build
records its config, the records in and out of each stage, counts per label and per source, and the
sha256 of each input file, so a figure in the report can be traced to the records behind it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from ils.io import sha256_file


def extra(splits: dict[str, list], cfg: Any, log: Any) -> dict:
    items = [(s, it) for s, its in splits.items() for it in its]
    return {
        "config": cfg.model_dump(mode="json"),
        "stages": log.stages,
        "per_label": _count(items, lambda it: _label(it)),
        "per_source": _count(items, lambda it: cfg.sources[it.source].name or cfg.sources[it.source].path),
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


def sections(man: dict) -> list[str]:
    """Report sections after the common tables: stages, labels, sources."""
    lines = ["", "## Stages", "", "| stage | in | out | dropped |", "|---|---:|---:|---:|"]
    lines += [f"| {s['stage']} | {s['in']} | {s['out']} | {s['dropped']} |" for s in man["stages"]]
    for title, key in (("Labels", "per_label"), ("Sources", "per_source")):
        lines += ["", f"## {title}", "", "| | train | validation | test |", "|---|---:|---:|---:|"]
        lines += [f"| {k} | " + " | ".join(str(v.get(s, 0)) for s in ("train", "validation", "test")) + " |"
                  for k, v in man[key].items()]
    return lines
