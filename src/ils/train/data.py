"""Training data: the records of a dataset folder's splits (or files), tokenized for the loop."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ils.dataset import read_split, split_path
from ils.errors import TrainingError
from ils.io import fingerprint
from ils.models.chat import IGNORE, check_template, encode_example
from ils.records import Example

Item = tuple[list[int], list[int]]


def read_records(cfg: Any) -> tuple[list[Example], list[Example]]:
    """(train, validation) records: ``data``'s train split and the validation split of ``validation``
    or, when ``data`` is a dataset folder, of ``data`` (none when there is none)."""
    train = read_split(cfg.data, "train", cfg.limit)
    if cfg.validation:
        val = read_split(cfg.validation, "validation")
    else:  # the folder's own split; a split of no records is an empty file there, not an error
        own = split_path(cfg.data, "validation") if Path(cfg.data).is_dir() else None
        val = read_split(own, "validation") if own and own.stat().st_size else []
    if not train:
        raise TrainingError(f"{cfg.data}: no training records")
    return train, val


def data_fingerprint(cfg: Any) -> str:
    return fingerprint(split_path(cfg.data, "train"))


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
    train: list[Any]
    validation: list[Any]
    fingerprint: str
    tasks: list[str]
    head: dict | None = None  # encoder-head runs: the HeadSpec that rebuilds the head (ils.json)
    dev_score: Callable[[Any], dict] | None = None  # model → {val_score, val_metric} on validation
    encode: Any = None  # encoder-head runs: records -> items with the same head and spec (EWC's Fisher data)


def load_train_data(cfg: Any, tok: Any) -> TrainData:
    train, val = read_records(cfg)
    tasks = sorted({ex.task for ex in train if ex.task})
    return TrainData(tokenize(train, tok, cfg.max_length), tokenize(val, tok, cfg.max_length) if val else [],
                     data_fingerprint(cfg), tasks)
