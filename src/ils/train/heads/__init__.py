"""Encoder task heads: sequence classification, token classification (NER), extractive QA.

``task:`` in the train config picks the head; the one training loop trains it through ``HeadLoss``
(same protocol as ``ResponseLoss``: ``count``, ``collate``, forward → (loss sum, count)). Each head
is one file registering a ``Head``: read its data, encode items, decode predictions, score them.
Items are ``(input_ids, labels, token_type_ids)`` so the loop's batching works unchanged.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ils.errors import ConfigError, TrainingError
from ils.io import RunDir, fingerprint, write_json
from ils.registry import Registry


class Head(ABC):
    task = ""
    auto_class = ""  # transformers Auto class that adds this head

    @abstractmethod
    def read(self, path: Path) -> list:
        ...

    def label_names(self, records: list, cfg: Any) -> list[str] | None:
        return None

    @abstractmethod
    def encode(self, records: list, tok: Any, cfg: Any, labels: list[str] | None) -> list:
        ...

    def count(self, labels: list[int]) -> int:
        return 1

    @abstractmethod
    def loss(self, out: Any, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ...

    @abstractmethod
    def score(self, model: Any, tok: Any, records: list, cfg: Any, labels: list[str] | None) -> dict:
        ...


HEADS: Registry[type[Head]] = Registry("head")
_BUILTIN = ("classify", "ner", "qa")


def get_head(task: str) -> Head:
    for module in _BUILTIN:
        importlib.import_module(f"ils.train.heads.{module}")
    return HEADS.get(task)()


class HeadLoss(nn.Module):
    def __init__(self, model: nn.Module, head: Head, pad_id: int, types: bool = True):
        super().__init__()
        self.model, self.head, self.pad_id, self.types = model, head, pad_id, types

    def count(self, labels: list[int]) -> int:
        return self.head.count(labels)

    def collate(self, items: list, pad_id: int) -> dict:
        return collate_items(items, pad_id)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
                token_type_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        extra = {"token_type_ids": token_type_ids} if self.types else {}
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, **extra)
        return self.head.loss(out, labels)


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


def ce_sum(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    keep = labels != -100
    return F.cross_entropy(logits[keep].float(), labels[keep], reduction="sum"), keep.sum()


def load_head_task(cfg: Any) -> tuple[Any, Any, Any, Any]:
    """Model with the head, tokenizer, tokenized data and the loss module, all checked up front."""
    from ils.models.loading import load_tokenizer
    from ils.models.sources import resolve
    from ils.train.data import TrainData

    _check_pooling(cfg)
    head, folder = get_head(cfg.task), resolve(cfg.model)
    tok = load_tokenizer(folder)
    train = head.read(Path(cfg.data))[: cfg.limit or None]
    val = head.read(Path(cfg.validation)) if cfg.validation else []
    labels = head.label_names(train, cfg)
    spec = head_spec(head, labels, cfg.head.pooling)
    model = load_head_model(folder, spec)
    _check_positions(cfg, model)
    _check_case_types(cfg, model, tok)
    data = TrainData(head.encode(train, tok, cfg, labels), head.encode(val, tok, cfg, labels) if val else [],
                     fingerprint(cfg.data), [cfg.task], spec)
    if not data.train:
        raise TrainingError(f"{cfg.data}: no training records")
    types = "token_type_ids" in tok.model_input_names
    return model, tok, data, lambda m: HeadLoss(m, head, tok.pad_token_id, types)


def head_spec(head: Head, labels: list[str] | None, pooling: str = "cls") -> dict:
    kwargs = {} if labels is None else {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
                                        "label2id": {n: i for i, n in enumerate(labels)}}
    return {"class": head.auto_class, "kwargs": kwargs, "labels": labels, "pooling": pooling}


def load_head_model(folder: Path, spec: dict, dtype: Any = None) -> Any:
    """The transformers head class a run's ``head`` spec names, with its label count and pooling."""
    import transformers

    from ils.models.pooling import use_pooling

    model = getattr(transformers, spec["class"]).from_pretrained(str(folder), dtype=dtype or torch.float32,
                                                                 **spec.get("kwargs", {}))
    return use_pooling(model, spec.get("pooling", "cls"))


def _check_pooling(cfg: Any) -> None:
    if cfg.head.pooling != "cls" and cfg.task != "sequence-classification":
        raise ConfigError(f"head.pooling: only sequence-classification uses it, not {cfg.task}")


def _check_case_types(cfg: Any, model: Any, tok: Any) -> None:
    if not cfg.head.case_types:
        return
    if cfg.task != "token-classification":
        raise ConfigError(f"head.case_types: only token-classification uses it, not {cfg.task}")
    if "token_type_ids" not in tok.model_input_names or getattr(model.config, "type_vocab_size", 0) < 2:
        raise ConfigError(f"head.case_types: {cfg.model} has no second token type to carry casing")


def _check_positions(cfg: Any, model: Any) -> None:
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit and cfg.max_length > limit:
        raise ConfigError(f"max_length: {cfg.max_length} is longer than the model's {limit} positions")


def check_labels(found: list[str], known: list[str], where: str) -> None:
    unknown = sorted(set(found) - set(known))
    if unknown:
        raise TrainingError(f"{where}: labels {unknown[:5]} are not in the head's label set {known}")


def evaluate_head(cfg: Any, run: RunDir, model: Any, tok: Any) -> dict:
    """Score the trained head on the validation file and on ``eval.test``; writes eval/head.json."""
    head = get_head(cfg.task)
    labels = run.read_info()["head"]["labels"]
    model.eval()
    report = {}
    for split, path in (("validation", cfg.validation), ("test", cfg.eval.test if cfg.eval else None)):
        if path:
            records = head.read(Path(path))[: (cfg.eval.limit if cfg.eval else None) or None]
            report[split] = {"file": str(path), "records": len(records),
                             **head.score(model, tok, records, cfg, labels)}
    write_json(run.eval / "head.json", report)
    return report
