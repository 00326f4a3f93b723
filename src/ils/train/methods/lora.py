"""LoRA (Hu et al., 2021) through PEFT: low-rank updates on linear layers; saves in PEFT's format.

DoRA and AdaLoRA subclass this: the ``lora:`` config block (r, alpha, dropout, target_modules) is
shared by the whole family.
"""

from __future__ import annotations

from typing import Any

from ils.train.methods import METHODS, Method
from ils.train.methods.common import head_params, linear_layers, peft_task


@METHODS.register
class Lora(Method):
    name = "lora"
    use_dora = False

    def peft_config(self, cfg: Any, total_steps: int) -> Any:
        from peft import LoraConfig

        o = cfg.lora
        return LoraConfig(task_type=peft_task(cfg), r=o.r, lora_alpha=o.alpha, lora_dropout=o.dropout,
                          target_modules=o.target_modules, use_dora=self.use_dora)

    def apply(self, model: Any, cfg: Any, total_steps: int) -> Any:
        from peft import get_peft_model

        return get_peft_model(model, self.peft_config(cfg, total_steps))

    def per_layer(self, layer: Any, cfg: Any) -> int:
        """A and B: r x in + out x r."""
        return cfg.lora.r * (layer.in_features + layer.out_features)

    def promised(self, model: Any, cfg: Any) -> int:
        layers = linear_layers(model, cfg.lora.target_modules)
        return sum(self.per_layer(m, cfg) for _, m in layers) + head_params(model)
