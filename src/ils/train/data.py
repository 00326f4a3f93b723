"""Training data: read Example files (or a dataset folder's splits) and tokenize them for the loop."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ils.errors import TrainingError
from ils.io import fingerprint
from ils.models.chat import IGNORE, check_template, encode_example
from ils.records import Example, load_examples

Item = tuple[list[int], list[int]]


def split_path(path: str | Path, split: str) -> Path | None:
    """A dataset folder's ``<split>.jsonl``, or the path itself when it is a file."""
    path = Path(path)
    if path.is_dir():
        f = path / f"{split}.jsonl"
        return f if f.is_file() else None
    return path


def check_paths(cfg: Any) -> None:
    """Fail on a missing data or validation path before any model loads (loading takes seconds)."""
    for option, path, split in (("data", cfg.data, "train"), ("validation", cfg.validation, "validation")):
        if not path:
            continue
        if not Path(path).exists():
            raise TrainingError(f"{option}: {path}: not found")
        if split_path(path, split) is None:
            raise TrainingError(f"{option}: {path}: no {split}.jsonl in this dataset folder")


def read_split(path: str | Path, split: str, limit: int | None = None) -> list[Example]:
    f = split_path(path, split)
    if f is None:
        raise TrainingError(f"{path}: no {split}.jsonl in this dataset folder")
    examples = load_examples(f)
    return examples[:limit] if limit else examples


def tokenize(examples: list[Example], tok: Any, max_length: int) -> list[Item]:
    """Encode every example; refuse when the template disagrees or nothing would be trained."""
    if not examples:
        raise TrainingError("no training records")
    check_template(tok, examples[0])
    items = [encode_example(tok, ex, max_length) for ex in examples]
    if all(all(label == IGNORE for label in labels) for _, labels in items):
        raise TrainingError("every label is masked: no response token would be trained")
    return items


@dataclass
class TrainData:
    train: list[Item]
    validation: list[Item]
    fingerprint: str
    tasks: list[str]
    head: dict | None = None  # encoder-head runs: {"class", "kwargs", "labels"} for loading the run


def load_train_data(cfg: Any, tok: Any) -> TrainData:
    train = read_split(cfg.data, "train", cfg.limit)
    val_path = cfg.validation or (cfg.data if Path(cfg.data).is_dir() else None)
    val = read_split(val_path, "validation") if val_path and split_path(val_path, "validation") else []
    tasks = sorted({ex.task for ex in train if ex.task})
    return TrainData(tokenize(train, tok, cfg.max_length), tokenize(val, tok, cfg.max_length) if val else [],
                     fingerprint(split_path(cfg.data, "train")), tasks)
