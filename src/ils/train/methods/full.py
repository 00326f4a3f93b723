"""Full fine-tuning: every parameter trains; the run folder gets a complete model/ in safetensors."""

from __future__ import annotations

from typing import Any

from ils.train.methods import METHODS, Method


@METHODS.register
class Full(Method):
    name = "full"
    folder = "model"

    def apply(self, model: Any, cfg: Any, total_steps: int) -> Any:
        for p in model.parameters():
            p.requires_grad_(True)
        return model

    def promised(self, model: Any, cfg: Any) -> int:
        return sum(p.numel() for p in model.parameters())
