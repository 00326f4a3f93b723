"""Encoder heads: what an encoder adds on top to learn a task -- a label per text, a tag per word, a
span in a context, and so on.

A head kind is one file here registering a ``Head``; ``HEADS`` finds them itself. A task names the
kind that learns it (``Task.head``) and gives each record's input as a plain dict (``Task.head_input``);
the head encodes those inputs, computes its loss, and predicts outputs the task turns back into its
answer form. Heads know no task and tasks know no model, so the same head serves every task of its
shape. Items are ``(input_ids, labels, token_type_ids)``, so the training loop's batching works
unchanged. ``HeadSpec`` is what a run folder stores to rebuild its head (``ils.json``: ``head``).
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ils.config import HeadOptions
from ils.errors import ConfigError, TrainingError
from ils.registry import Registry

Item = tuple[list[int], list[int], list[int]]


@dataclass(frozen=True)
class HeadSpec:
    """A head as trained: its kind, label set, sequence length and options."""

    kind: str
    labels: list[str] | None = None
    max_length: int = 512
    options: HeadOptions = field(default_factory=HeadOptions)

    def as_dict(self) -> dict:
        return {"kind": self.kind, "labels": self.labels, "max_length": self.max_length,
                "options": self.options.model_dump(exclude={"kind"})}

    @classmethod
    def from_dict(cls, d: dict) -> "HeadSpec":
        return cls(d["kind"], d.get("labels"), d.get("max_length", 512), HeadOptions(**d.get("options", {})))


class Head(ABC):
    """One head kind: encode inputs, the loss on the model's output, predictions back out."""

    name = ""  # the kind a task names
    auto_class = ""  # the transformers Auto class whose model carries this head
    peft_task = ""  # PEFT TaskType: the PEFT wrapper then also trains and saves the head
    options: tuple[str, ...] = ()  # the head options (config ``head:``) this kind reads
    loss_unit = "record"  # what the loss is averaged over (the loss plot's axis says it)

    def label_set(self, inputs: list[dict], given: list[str] | None) -> list[str] | None:
        """The label set: the configured one (training labels must be in it), else the ones seen."""
        return None

    @abstractmethod
    def encode(self, inputs: list[dict], tok: Any, spec: HeadSpec, train: bool = True) -> list[Item]:
        """Model inputs (and, when ``train``, targets) of every input."""

    def count(self, labels: list[int]) -> int:
        """Targets in one item (the loss is averaged over targets)."""
        return 1

    def forward(self, model: Any, batch: dict) -> Any:
        """The model's output on a batch (``labels`` are not the model's to see)."""
        return model(**{k: v for k, v in batch.items() if k != "labels"})

    @abstractmethod
    def loss(self, out: Any, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(sum of losses, number of targets) of a batch."""

    @abstractmethod
    def predict(self, model: Any, tok: Any, inputs: list[dict], spec: HeadSpec) -> list[Any]:
        """One output per input: a label, the tags of the words, an answer text."""

    def build(self, folder: Path, spec: HeadSpec, dtype: Any = None) -> Any:
        """The encoder at ``folder`` with this head on top (fresh, or as a run saved it)."""
        return _auto(self.auto_class, folder, spec, dtype)

    def check(self, model: Any, tok: Any, spec: HeadSpec) -> None:
        """Refuse options the model cannot serve, before training."""


HEADS: Registry[Head] = Registry("head", package=__name__)


def get_head(kind: str) -> Head:
    return HEADS.get(kind)


def build_model(folder: Path, spec: HeadSpec, dtype: Any = None) -> Any:
    return get_head(spec.kind).build(folder, spec, dtype)


def check_options(kind: str, options: HeadOptions) -> Head:
    """The head of ``kind``; head options set in a config that this kind does not read are refused."""
    head = get_head(kind)
    unused = [k for k in options.changed() if k not in head.options]
    if unused:
        raise ConfigError(f"head.{unused[0]}: the {kind} head does not use it (it reads "
                          f"{', '.join(head.options) or 'no options'})")
    return head


def _auto(auto_class: str, folder: Path, spec: HeadSpec, dtype: Any, **kw: Any) -> Any:
    import transformers

    labels = {} if spec.labels is None else {
        "num_labels": len(spec.labels), "id2label": dict(enumerate(spec.labels)),
        "label2id": {n: i for i, n in enumerate(spec.labels)}}
    with quiet_transformers():  # no "LOAD REPORT" table: a new head's fresh classifier is expected
        return getattr(transformers, auto_class).from_pretrained(str(folder), dtype=dtype or torch.float32,
                                                                 **labels, **kw)


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers' load report (a table of unexpected and missing keys) and progress bars off.

    An encoder loaded under a new head always has both: the pre-training head's weights are unused and
    the new classifier starts fresh. The table looks like a failure to a newcomer and says nothing a
    head's ``build`` does not already know; real load errors still raise."""
    from transformers.utils import logging as hf_logging

    before, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(before)
        if bars:
            hf_logging.enable_progress_bar()


def collate_items(items: list, pad_id: int) -> dict:
    """Right-pad ids (pad id), token types (0) and per-token labels (-100) to the longest item."""
    width = max(len(it[0]) for it in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    types = torch.zeros((len(items), width), dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    lab_width = max(len(it[1]) for it in items)
    labels = torch.full((len(items), lab_width), -100, dtype=torch.long)
    for row, (x, y, t) in enumerate(items):
        ids[row, : len(x)], mask[row, : len(x)] = torch.tensor(x), 1
        types[row, : len(t)] = torch.tensor(t)
        labels[row, : len(y)] = torch.tensor(y)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels, "token_type_ids": types}


@torch.no_grad()
def run_batches(head: Head, model: Any, tok: Any, items: list[Item], size: int = 64):
    """(batch, model output) for every batch of ``items``, in order, the model in eval mode."""
    model.eval()
    for i in range(0, len(items), size):
        batch = collate_items(items[i:i + size], tok.pad_token_id)
        if "token_type_ids" not in tok.model_input_names:
            batch.pop("token_type_ids")
        yield batch, head.forward(model, batch)


def ce_sum(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    keep = labels != -100
    return F.cross_entropy(logits[keep].float(), labels[keep], reduction="sum"), keep.sum()


def label_set(found: list[str], given: list[str] | None, order: Any = None) -> list[str]:
    """``given`` when set (every label ``found`` must be in it), else the found labels, sorted."""
    if given:
        check_labels(found, given, "training data")
        return list(given)
    return sorted(set(found), key=order)


def check_labels(found: list[str], known: list[str], where: str) -> None:
    unknown = sorted(set(found) - set(known))
    if unknown:
        raise TrainingError(f"{where}: labels {unknown[:5]} are not in the head's label set {known}")
