"""Freeze: train only the top k transformer blocks, the final norm and the head; save a full model/.

The cheapest full-weight method: lower layers keep their general features. On a causal LM with tied
embeddings the head *is* the embedding matrix, so ``train_head: false`` leaves it frozen.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ils.errors import ConfigError
from ils.train.methods import METHODS, Method, freeze_all
from ils.train.methods.common import blocks, head_modules


class FreezeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    top_k: int = Field(1, ge=1, description="how many of the top transformer blocks train")
    train_head: bool = Field(True, description="also train the output head (lm_head or task head)")


@METHODS.register
class Freeze(Method):
    name = "freeze"
    folder = "model"
    Options = FreezeOptions

    def check(self, model: Any, cfg: Any) -> None:
        super().check(model, cfg)
        n = len(blocks(model))
        if self.options(cfg).top_k > n:
            raise ConfigError(f"method_options.top_k: {self.options(cfg).top_k} > the model's {n} blocks")

    def _selected(self, model: Any, cfg: Any) -> list:
        o = self.options(cfg)
        mods = list(blocks(model))[-o.top_k:]
        mods += [m for n, m in model.named_modules() if n.endswith(".norm") and "layers." not in n]
        if o.train_head:
            heads = [m for _, m in head_modules(model)]
            mods += heads or [model.get_output_embeddings()]
        return list({id(p): p for m in mods for p in m.parameters()}.values())

    def apply(self, model: Any, cfg: Any, total_steps: int) -> Any:
        freeze_all(model)
        for p in self._selected(model, cfg):
            p.requires_grad_(True)
        return model

    def promised(self, model: Any, cfg: Any) -> int:
        return sum(p.numel() for p in self._selected(model, cfg))
