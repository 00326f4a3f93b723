"""Training an encoder head on dataset-folder records, through the one training loop.

The records' task gives each record's head input (``Task.head_input``: its answer and the source
fields ``ils data build`` keeps in ``meta``); the head kind it names (``ils.models.heads``) encodes
the inputs and computes the loss. At each validation the head also predicts the validation records and
the task's metric scores them (``dev_scorer``), so a run logs its dev F1 or accuracy, not only a loss. ``HeadLoss`` has the protocol of ``ResponseLoss`` (``count``,
``collate``, forward → (loss sum, count)), so the loop trains either without knowing which.
"""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

from ils.errors import ConfigError
from ils.models.heads import Head, HeadSpec, check_options, collate_items
from ils.records import Example
from ils.tasks import TASKS, Task
from ils.train.data import TrainData, data_fingerprint, read_records


class HeadLoss(nn.Module):
    def __init__(self, model: nn.Module, head: Head, types: bool = True):
        super().__init__()
        self.model, self.head, self.types = model, head, types

    def count(self, labels: list[int]) -> int:
        return self.head.count(labels)

    def collate(self, items: list, pad_id: int) -> dict:
        return collate_items(items, pad_id)

    def forward(self, input_ids: Any, attention_mask: Any, labels: Any, token_type_ids: Any) -> Any:
        batch = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
        if self.types:
            batch["token_type_ids"] = token_type_ids
        return self.head.loss(self.head.forward(self.model, batch), labels)


def head_task(cfg: Any, records: list[Example]) -> tuple[Task, Head]:
    """The one task of the records and the head that learns it, checked against ``head.kind``."""
    names = sorted({ex.task or "(none)" for ex in records})
    if len(names) != 1:
        raise ConfigError(f"{cfg.data}: an encoder head learns one task; the records have {', '.join(names)}")
    task = TASKS.get(names[0])
    if task.head == "none":
        raise ConfigError(f"head.kind: task '{task.name}' has no encoder head; tune a causal LM on it "
                          "(leave head.kind unset)")
    if cfg.head.kind not in ("auto", task.head):
        raise ConfigError(f"head.kind: task '{task.name}' is learned by the {task.head} head, not "
                          f"{cfg.head.kind} (or say auto)")
    return task, check_options(task.head, cfg.head)


def load_head_task(cfg: Any) -> tuple[Any, Any, TrainData, Any]:
    """Model with the head, tokenizer, encoded data and the loss module, all checked up front."""
    from ils.models.loading import load_tokenizer
    from ils.models.sources import resolve

    train, val = read_records(cfg)
    task, head = head_task(cfg, train)
    folder = resolve(cfg.model)
    tok = load_tokenizer(folder)
    inputs = [task.head_input(ex) for ex in train]
    spec = HeadSpec(head.name, head.label_set(inputs, cfg.head.labels), cfg.max_length, cfg.head)
    model = head.build(folder, spec)
    _check_positions(cfg, model)
    head.check(model, tok, spec)
    val_items = head.encode([task.head_input(ex) for ex in val], tok, spec) if val else []
    data = TrainData(head.encode(inputs, tok, spec), val_items, data_fingerprint(cfg), [task.name],
                     spec.as_dict(), dev_scorer(task, head, tok, spec, val) if val else None,
                     lambda records: head.encode([task.head_input(ex) for ex in records], tok, spec))
    types = "token_type_ids" in tok.model_input_names
    return model, tok, data, lambda m: HeadLoss(m, head, types)


def dev_scorer(task: Task, head: Head, tok: Any, spec: HeadSpec, val: list[Example]) -> Callable[[Any], dict]:
    """The task's own metric on the validation records, as the evaluator scores them (entity F1 for
    NER, accuracy, SQuAD F1, ...): what the loop logs beside the validation loss."""
    from ils.evaluate.judge import make_row, per_task

    inputs = [task.head_input(ex) for ex in val]

    def score(model: Any) -> dict:
        answers = [task.from_head(o, ex) for o, ex in zip(head.predict(model, tok, inputs, spec), val)]
        rows = [make_row(ex, task, task.answer_text(a), answer=a) for ex, a in zip(val, answers)]
        result = per_task(rows)[task.name]
        return {"val_score": result["score"], "val_metric": result["metric"]}

    return score


def _check_positions(cfg: Any, model: Any) -> None:
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit and cfg.max_length > limit:
        raise ConfigError(f"max_length: {cfg.max_length} is longer than the model's {limit} positions")
