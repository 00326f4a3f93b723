"""AdaLoRA (Zhang et al., 2023) through PEFT: SVD-shaped updates whose ranks are re-budgeted while
training, by importance. Needs the run's total steps, and a per-step hook that reallocates ranks."""

from __future__ import annotations

from typing import Any

import torch

from pydantic import BaseModel, ConfigDict, Field

from ils.train.methods import METHODS
from ils.train.methods.common import peft_task
from ils.train.methods.lora import Lora


class AdaLoraOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    init_r: int = Field(12, description="starting rank of every layer")
    target_r: int = Field(4, description="average rank left after budgeting")
    warmup_fraction: float = Field(0.2, description="share of steps before ranks are pruned (tinit)")
    final_fraction: float = Field(0.2, description="share of steps at the end with ranks fixed (tfinal)")
    orth_reg_weight: float = Field(0.5, ge=0, description="weight of the orthogonality penalty on P and Q")


@METHODS.register
class AdaLora(Lora):
    name = "adalora"
    Options = AdaLoraOptions

    def peft_config(self, cfg: Any, total_steps: int) -> Any:
        from peft import AdaLoraConfig

        o, lo = self.options(cfg), cfg.lora
        total = max(total_steps, 3)
        tinit, tfinal = int(total * o.warmup_fraction), int(total * o.final_fraction)
        if tinit + tfinal >= total:
            tinit, tfinal = 0, 0
        return AdaLoraConfig(task_type=peft_task(cfg), init_r=o.init_r, target_r=o.target_r,
                             lora_alpha=lo.alpha, lora_dropout=lo.dropout, target_modules=lo.target_modules,
                             total_step=total, tinit=tinit, tfinal=tfinal, orth_reg_weight=o.orth_reg_weight)

    def per_layer(self, layer: Any, cfg: Any) -> int:
        """A (r x in), B (out x r) and the singular values E (r)."""
        return self.options(cfg).init_r * (layer.in_features + layer.out_features + 1)

    def after_optimizer_step(self, model: Any, step: int) -> None:
        model.base_model.update_and_allocate(step)

    def regularizer(self, model: Any) -> Any:
        """The paper's orthogonality penalty: mean over P (lora_A) and Q (lora_B) of ||PPᵀ − I||_F and
        ||QᵀQ − I||_F. PEFT adds it only inside its own forward when labels are passed; our loop computes
        the loss itself (logits only at trained positions), so it is added here."""
        weight = model.peft_config[model.active_adapter].orth_reg_weight
        mats = [p @ p.T if "lora_A" in n else p.T @ p
                for n, p in model.named_parameters() if p.requires_grad and ("lora_A" in n or "lora_B" in n)]
        if not mats or not weight:
            return None
        eye = lambda m: torch.eye(m.shape[0], dtype=m.dtype, device=m.device)
        return weight * torch.stack([torch.linalg.matrix_norm(m - eye(m)) for m in mats]).mean()
