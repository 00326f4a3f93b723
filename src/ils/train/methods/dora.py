"""DoRA (Liu et al., 2024) through PEFT: LoRA on the direction plus a trained magnitude per output."""

from __future__ import annotations

from typing import Any

from ils.train.methods import METHODS
from ils.train.methods.lora import Lora


@METHODS.register
class Dora(Lora):
    name = "dora"
    use_dora = True

    def per_layer(self, layer: Any, cfg: Any) -> int:
        return super().per_layer(layer, cfg) + layer.out_features  # + the magnitude vector
