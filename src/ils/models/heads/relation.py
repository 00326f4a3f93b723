"""Relation head: the relation between two marked entities of a sentence, as R-BERT classifies it.

Input: ``{"text", "e1": [start, end], "e2": [start, end], "label"}`` with character spans. The first
entity is wrapped in ``$`` and the second in ``#`` (R-BERT's markers: ordinary characters, so the
vocabulary and the embeddings stay as they are and every tuning method applies); the encoder's
states at [CLS] and at the two opening markers ("entity starts", as in Matching the Blanks) are
concatenated and classified. Output: the predicted label.

transformers has no such head, so the model is its sequence classification model whose classifier
takes the three states instead of the pooled one; PEFT then wraps, trains and saves it like any
sequence head. Its forward is this file's (``forward``), since the stock one pools [CLS] only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ils.models.heads import HEADS, HeadSpec, Item, _auto, ce_sum, check_labels, run_batches
from ils.models.heads.sequence import SequenceHead

MARKERS = ("$", "#")


def mark(text: str, e1: list[int], e2: list[int]) -> tuple[str, list[int]]:
    """The text with each entity wrapped in its marker; the character offset of each opening marker."""
    cuts = sorted([(e1[0], 0, "open"), (e1[1], 0, "close"), (e2[0], 1, "open"), (e2[1], 1, "close")],
                  key=lambda c: (c[0], c[2] == "open"))  # at one offset a closing marker comes first
    out, starts, last = [], [0, 0], 0
    for pos, which, side in cuts:
        out.append(text[last:pos])
        last = pos
        piece = f"{MARKERS[which]} " if side == "open" else f" {MARKERS[which]}"
        if side == "open":
            starts[which] = sum(len(p) for p in out)
        out.append(piece)
    out.append(text[last:])
    return "".join(out), starts


def marker_tokens(enc: Any, i: int, chars: list[int]) -> list[int]:
    """Token index of each opening marker in sequence i (0, the [CLS] state, when truncated away)."""
    offsets = enc["offset_mapping"][i]
    found = []
    for c in chars:
        found.append(next((k for k, (s, e) in enumerate(offsets) if s == c and e > s), 0))
    return found


class RelationHead(SequenceHead):
    name = "relation"
    options = ("labels",)
    loss_unit = "entity pair"

    def encode(self, inputs: list[dict], tok: Any, spec: HeadSpec, train: bool = True) -> list[Item]:
        labels = spec.labels or []
        if train:
            check_labels([str(x["label"]) for x in inputs], labels, "records")
        index = {n: i for i, n in enumerate(labels)}
        marked = [mark(x["text"], x["e1"], x["e2"]) for x in inputs]
        enc = tok([m for m, _ in marked], truncation=True, max_length=spec.max_length,
                  return_offsets_mapping=True)
        items = []
        for i, (x, (_, chars)) in enumerate(zip(inputs, marked)):
            target = index[str(x["label"])] if train else 0
            types = enc["token_type_ids"][i] if "token_type_ids" in enc else [0] * len(enc["input_ids"][i])
            items.append((enc["input_ids"][i], [target, *marker_tokens(enc, i, chars)], types))
        return items

    def forward(self, model: Any, batch: dict) -> torch.Tensor:
        """Logits from [CLS] and the two entity starts (their positions ride in ``labels[:, 1:]``)."""
        inner = model.get_base_model() if hasattr(model, "get_base_model") else model
        encoder = getattr(inner, inner.base_model_prefix)
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        hidden = encoder(**inputs).last_hidden_state
        rows = torch.arange(hidden.shape[0])
        states = [hidden[:, 0]] + [hidden[rows, batch["labels"][:, k]] for k in (1, 2)]
        pooled = torch.cat(states, -1)
        drop = getattr(inner.config, "hidden_dropout_prob", 0.1)
        return inner.classifier(nn.functional.dropout(pooled, drop, training=inner.training))

    def loss(self, out: Any, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return ce_sum(out, labels[:, 0])

    def predict(self, model: Any, tok: Any, inputs: list[dict], spec: HeadSpec) -> list[str]:
        items = self.encode(inputs, tok, spec, train=False)
        return [spec.labels[j] for _, out in run_batches(self, model, tok, items)
                for j in out.argmax(-1).tolist()]

    def build(self, folder: Path, spec: HeadSpec, dtype: Any = None) -> Any:
        """The sequence model with a classifier over three states; a trained one's weights reloaded."""
        model = _auto(self.auto_class, folder, spec, dtype, ignore_mismatched_sizes=True)
        hidden, n = model.config.hidden_size, model.config.num_labels
        model.classifier = nn.Linear(3 * hidden, n).to(next(model.parameters()).dtype)
        saved = _saved_classifier(folder)
        if saved and saved["weight"].shape == model.classifier.weight.shape:
            model.classifier.load_state_dict(saved)
        return model


def _saved_classifier(folder: Path) -> dict[str, torch.Tensor]:
    """``classifier.*`` tensors of a fully tuned relation model saved at ``folder`` (none in a base)."""
    from safetensors import safe_open

    out = {}
    for path in sorted(Path(folder).glob("*.safetensors")):
        with safe_open(str(path), "pt") as f:
            out.update({k.split(".", 1)[1]: f.get_tensor(k) for k in f.keys() if k.startswith("classifier.")})
    return out


HEADS.add(RelationHead())
