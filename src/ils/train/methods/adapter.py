"""Bottleneck adapters (Houlsby / Pfeiffer) after attention and MLP: ours, since PEFT lacks them.

Only the adapters (and an encoder's task head) train; they are saved in ILS's adapter format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ils.errors import ConfigError
from ils.models.bottleneck import add_adapters, sites
from ils.train.methods import METHODS, Method, freeze_all
from ils.train.methods.common import head_modules, head_params
from ils.train.methods.savefmt import save_trained


class AdapterOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: int = Field(16, ge=1, description="bottleneck width")
    style: Literal["houlsby", "pfeiffer"] = Field("houlsby", description="houlsby: after attention and "
                                                  "MLP; pfeiffer: after the MLP only")


@METHODS.register
class Adapter(Method):
    name = "adapter"
    Options = AdapterOptions

    def check(self, model: Any, cfg: Any) -> None:
        super().check(model, cfg)
        if not sites(model, self.options(cfg).style):
            raise ConfigError(f"method 'adapter': no attention/MLP output layers recognised in "
                              f"{type(model).__name__}; known families: llama/qwen/mistral, gpt2, bert")

    def apply(self, model: Any, cfg: Any, total_steps: int) -> Any:
        o = self.options(cfg)
        freeze_all(model)
        for a in add_adapters(model, o.size, o.style):
            a.requires_grad_(True)
        for _, head in head_modules(model):
            head.requires_grad_(True)
        self._opts = o.model_dump()
        return model

    def promised(self, model: Any, cfg: Any) -> int:
        size = self.options(cfg).size
        return sum(2 * m.out_features * size + size + m.out_features
                   for m in sites(model, self.options(cfg).style)) + head_params(model)

    def save(self, model: Any, tokenizer: Any, dest: Path) -> None:
        save_trained(model, tokenizer, dest, "adapter", self._opts)
