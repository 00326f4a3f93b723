"""What a run adds to the plain loss, set up once before training and called by the loop at three points.

- ``token_terms``: added to each micro-batch's loss sum (LwF's KL on the trained tokens);
- ``step_terms``: added once per optimizer step (EWC's penalty);
- ``after_backward``: after each micro-batch's backward (FGM/PGD's adversarial pass).

``build`` also continues from the previous run's weights and lets the objective compute its reference
log-probs, all from the model as training starts and before the run folder exists (a refused option
leaves nothing behind); ``save`` writes what was computed into the run folder, where a resumed run
reads it back instead of recomputing it from weights that have moved since.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ils.io import atomic_path, write_text


@dataclass
class Extras:
    stored: dict[str, dict] = field(default_factory=dict)  # run-relative safetensors file → tensors
    texts: dict[str, str] = field(default_factory=dict)  # run-relative file → text (adapters.json)
    ewc: Any = None
    lwf: Any = None
    adversary: Any = None

    def token_terms(self, objective: Any, indices: list[int]) -> torch.Tensor | float:
        if self.lwf is None or getattr(objective, "logits", None) is None:
            return 0.0
        return self.lwf(objective.logits, indices)

    def step_terms(self, extra: torch.Tensor | None) -> torch.Tensor | None:
        if self.ewc is None:
            return extra
        penalty = self.ewc()
        return penalty if extra is None else extra + penalty

    def after_backward(self, loss_of: Callable[[], torch.Tensor], backward: Callable, scale: float) -> None:
        if self.adversary is not None:
            self.adversary.after_backward(loss_of, backward, scale)

    def metrics(self) -> dict:
        parts = {"ewc": self.ewc, "lwf": self.lwf, "adv_loss": self.adversary}
        return {k: round(v.last, 6) for k, v in parts.items() if v is not None}

    def save(self, root: Path) -> None:
        from safetensors.torch import save_file

        for name, tensors in self.stored.items():
            if tensors and not (root / name).is_file():
                (root / name).parent.mkdir(parents=True, exist_ok=True)
                with atomic_path(root / name) as tmp:
                    save_file({k: v.contiguous() for k, v in tensors.items()}, tmp)
        for name, text in self.texts.items():
            write_text(root / name, text)


def build(cfg: Any, method: Any, model: Any, tok: Any, data: Any, objective: Any, head_loss: Any,
          resume_root: Path | None) -> Extras:
    """Everything above, from the model as training starts (``resume_root``: read what is stored)."""
    from ils.train import adversarial

    adversarial.check(method, model, cfg)
    c, out = cfg.continual, Extras()
    if c.previous and not c.adapters:
        from ils.train.continual.weights import load_previous

        load_previous(model, Path(c.previous))
    if objective.stored:
        out.stored[objective.stored] = objective.prepare(model, tok, data, cfg, resume_root)
    if c.ewc:
        out.ewc = _ewc(cfg, model, tok, data, head_loss, resume_root, out)
    if c.lwf:
        out.lwf = _lwf(cfg, model, tok, data, resume_root, out)
    if c.adapters:
        out.texts["adapters.json"] = _adapters(cfg)
    if cfg.adversarial.attack:
        out.adversary = adversarial.Adversary(model, cfg)
    return out


def _ewc(cfg: Any, model: Any, tok: Any, data: Any, head_loss: Any, root: Path | None, out: Extras) -> Any:
    from ils.train.continual import ewc
    from ils.train.objectives.logps import stored_or_computed

    def compute() -> dict:
        records = _previous_records(cfg)
        if cfg.head.kind is not None:
            return ewc.compute(model, head_loss, data.encode(records), tok.pad_token_id, cfg)
        from ils.train.data import tokenize
        from ils.train.objective import ResponseLoss

        return ewc.compute(model, ResponseLoss, tokenize(records, tok, cfg.max_length), tok.pad_token_id, cfg)

    out.stored[ewc.FILE] = stored_or_computed(root, ewc.FILE, compute)
    return ewc.EWCPenalty(model, out.stored[ewc.FILE], cfg.continual.ewc)


def _previous_records(cfg: Any) -> list:
    """The previous task's training records: ``ewc_data``, else the previous run's ``data``."""
    import yaml

    from ils.dataset import read_split

    path = cfg.continual.ewc_data
    if not path:
        path = yaml.safe_load((Path(cfg.continual.previous) / "config.yaml").read_text())["data"]
    return read_split(path, "train")


def _lwf(cfg: Any, model: Any, tok: Any, data: Any, root: Path | None, out: Extras) -> Any:
    from ils.train.continual import lwf
    from ils.train.objectives.logps import stored_or_computed

    c = cfg.continual

    def compute() -> dict:
        starts_as_base = not c.previous or c.adapters  # a fresh adapter: the model as it starts is the base
        own = not c.teacher or (c.teacher == cfg.model and starts_as_base)  # then no second model is loaded
        teacher = model if own else _teacher(c.teacher)
        return lwf.teacher_topk(teacher, data.train, tok.pad_token_id, c.lwf_temperature, c.lwf_top_k)

    out.stored[lwf.FILE] = stored_or_computed(root, lwf.FILE, compute)
    return lwf.LwFTerm(out.stored[lwf.FILE], c.lwf, c.lwf_temperature)


def _teacher(ref: str) -> Any:
    from ils.models.loading import load_any

    model, _, _ = load_any(ref, torch.float32)
    return model


def _adapters(cfg: Any) -> str:
    from ils.train.continual.adapters import chain
    from ils.train.data import read_records

    train, _ = read_records(cfg)
    return json.dumps(chain(cfg, Path(cfg.output), train), indent=1) + "\n"
