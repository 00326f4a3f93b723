"""Objectives: what the loss of a run is -- next-token loss on the responses (sft), DPO on chosen/rejected
pairs, KTO on answers labelled desirable or not.

An objective is one file here registering an ``Objective`` (``OBJECTIVES`` finds them; plugins add theirs
through the ``ils.objectives`` entry point group). It reads and encodes the records into items, computes
once what it needs from the model as training starts (DPO/KTO: the reference log-probs, so no second
model is held during training), and gives the loss module the loop calls. The loss module has the
protocol of ``ResponseLoss``: ``count(item[1])``, ``collate(items, pad_id)``, ``forward(**batch)`` →
(sum of losses, count), so the one loop trains any objective without knowing which.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from ils.errors import ConfigError
from ils.registry import Registry

Tensors = dict[str, Any]


class Objective:
    name = ""
    causal_only = True  # DPO and KTO score answers with a causal LM; an encoder head has its own loss
    stored = ""  # the run-folder file that keeps what ``prepare`` computed (reference log-probs)

    def check_config(self, cfg: Any) -> None:
        if self.causal_only and cfg.head.kind is not None:
            raise ConfigError(f"objective: {self.name} trains a causal LM on answers; an encoder head "
                              f"(head.kind: {cfg.head.kind}) learns with its own loss (objective: sft)")

    def load_data(self, cfg: Any, tok: Any) -> Any:
        """The run's TrainData: records read, checked for what this objective needs, encoded."""
        from ils.train.data import load_train_data

        return load_train_data(cfg, tok)

    def prepare(self, model: Any, tok: Any, data: Any, cfg: Any, run_root: Path | None) -> Tensors:
        """Compute (or, on resume, read from ``run_root``) what the items need from the starting model;
        returns the tensors to store in the run folder under ``stored``."""
        return {}

    def loss_module(self, model: nn.Module, cfg: Any) -> nn.Module:
        from ils.train.objective import ResponseLoss

        return ResponseLoss(model)


OBJECTIVES: Registry[Objective] = Registry("objective", package=__name__)


def get_objective(name: str) -> Objective:
    return OBJECTIVES.get(name)
