"""The dataset folder, written and read in one place: split JSONL files, ``manifest.json``, ``report.md``.

Every stage that makes instruction data (``ils data build``, procedural tasks, self-instruct, the
continual loop) writes its folder through ``write_dataset``, so every folder has the same files and
the same manifest core -- kind, ILS version, records per split, task and template, the sha256 of each
split file, every dropped record with its reason -- and a stage adds its own fields beside them.
Every stage that reads one (training, evaluation, the loop) goes through ``read_split``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Callable, Iterable

from ils.errors import RecordError
from ils.io import atomic_path, sha256_file, write_json, write_text
from ils.records import Example, load_examples, write_examples

SPLITS = ("train", "validation", "test")


def split_path(path: str | Path, split: str) -> Path | None:
    """A dataset folder's ``<split>.jsonl`` (None when it has none), or the path itself when a file."""
    path = Path(path)
    if path.is_dir():
        f = path / f"{split}.jsonl"
        return f if f.is_file() else None
    return path


def read_split(path: str | Path, split: str, limit: int | None = None) -> list[Example]:
    """The records of a file, or of a dataset folder's ``<split>.jsonl``; the first ``limit`` of them."""
    f = split_path(path, split)
    if f is None:
        raise RecordError(str(path), None, split, f"no {split}.jsonl in this dataset folder")
    if not f.exists():
        raise RecordError(str(f), None, "file", "not found")
    records = load_examples(f)
    return records[:limit] if limit else records


def write_dataset(out: str | Path, splits: dict[str, list[Example]], kind: str, *,
                  drops: Iterable[dict] = (), extra: dict[str, Any] | None = None,
                  sections: Callable[[dict], list[str]] | None = None, atomic: bool = True) -> dict:
    """Write the splits, ``manifest.json`` and ``report.md``; returns the manifest.

    ``drops`` are ``{"stage", "kind", "source", "id", "reason"}`` dicts; ``extra`` fields join the
    manifest; ``sections(manifest)`` gives report lines after the common tables. ``atomic`` writes
    a new folder under a temp name and renames it (nothing is left behind on failure); without it
    the files are written one by one (atomically each) into an existing folder, manifest last.
    """
    out = Path(out)
    if not atomic:
        return _write(out, splits, kind, list(drops), extra or {}, sections)
    with atomic_path(out) as tmp:
        tmp.mkdir()
        return _write(tmp, splits, kind, list(drops), extra or {}, sections)


def _write(folder: Path, splits: dict[str, list[Example]], kind: str, drops: list[dict], extra: dict,
           sections: Callable[[dict], list[str]] | None) -> dict:
    for name, records in splits.items():
        write_examples(folder / f"{name}.jsonl", records)
    man = manifest(folder, splits, kind, drops, extra)
    write_text(folder / "report.md", "\n".join(report(man) + (sections(man) if sections else []) + [""]))
    write_json(folder / "manifest.json", man)
    return man


def manifest(folder: Path, splits: dict[str, list[Example]], kind: str, drops: list[dict],
             extra: dict) -> dict:
    from ils import __version__

    return {"kind": kind, "ils_version": __version__,
            "splits": {name: len(records) for name, records in splits.items()},
            "per_task": _count(splits, lambda ex: ex.task or "-"),
            "per_template": _count(splits, lambda ex: f"{ex.task or '-'}/{ex.template or '-'}"),
            "files": {f"{s}.jsonl": sha256_file(folder / f"{s}.jsonl") for s in splits},
            "drops_by_reason": dict(Counter(f"{d.get('stage', '-')}: {d.get('kind') or d.get('reason')}"
                                            for d in drops)),
            "drops": drops, **extra}


def _count(splits: dict[str, list[Example]], key: Callable[[Example], str]) -> dict[str, dict[str, int]]:
    out: dict[str, Counter] = defaultdict(Counter)
    for split, records in splits.items():
        for ex in records:
            out[key(ex)][split] += 1
    return {k: dict(v) for k, v in sorted(out.items())}


def report(man: dict) -> list[str]:
    """The common part of ``report.md``: splits, records per task and template, drops by reason."""
    names = list(man["splits"])
    lines = [f"# Dataset report ({man['kind']})", "",
             "Splits: " + ", ".join(f"{k} {v}" for k, v in man["splits"].items())]
    for title, key in (("Tasks", "per_task"), ("Templates", "per_template")):
        lines += ["", f"## {title}", "", "| | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
        lines += [f"| {k} | " + " | ".join(str(v.get(s, 0)) for s in names) + " |"
                  for k, v in man[key].items()]
    lines += ["", "## Drops", "", "| stage: reason | records |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(man["drops_by_reason"].items())]
    if man["drops"]:
        lines += ["", "Every dropped record, with its source and full reason, is in `manifest.json`."]
    return lines
