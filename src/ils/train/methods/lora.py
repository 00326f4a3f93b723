"""LoRA (Hu et al., 2021) through PEFT: low-rank updates on linear layers; saves in PEFT's format."""

from __future__ import annotations

from typing import Any

from ils.train.methods import METHODS, Method


@METHODS.register("lora")
class Lora(Method):
    name = "lora"
    folder = "adapter"

    def apply(self, model: Any, cfg: Any) -> Any:
        from peft import LoraConfig, TaskType, get_peft_model

        opts = cfg.lora
        config = LoraConfig(task_type=TaskType.CAUSAL_LM, r=opts.r, lora_alpha=opts.alpha,
                            lora_dropout=opts.dropout, target_modules=opts.target_modules)
        return get_peft_model(model, config)
