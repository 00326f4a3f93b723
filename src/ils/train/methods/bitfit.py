"""BitFit (Ben Zaken et al., 2022): train only the bias terms (and an encoder's task head).

Tiny to store; works on models with biases (BERT-style encoders, GPT-2). Llama-family models have
no biases, so it refuses them before training rather than training nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ils.errors import ConfigError
from ils.train.methods import METHODS, Method, freeze_all
from ils.train.methods.common import head_modules
from ils.train.methods.savefmt import save_trained


def _biases(model: Any) -> list:
    return [p for n, p in model.named_parameters() if n.endswith(".bias")]


@METHODS.register
class BitFit(Method):
    name = "bitfit"

    def check(self, model: Any, cfg: Any) -> None:
        super().check(model, cfg)
        body = [p for n, p in model.named_parameters() if n.endswith(".bias") and n.split(".")[0] not in
                {h for h, _ in head_modules(model)}]
        if not body:
            raise ConfigError(f"method 'bitfit' trains biases only, and {type(model).__name__} "
                              f"({cfg.model}) has none; use lora, ia3 or adapter")

    def _selected(self, model: Any) -> list:
        params = _biases(model) + [p for _, m in head_modules(model) for p in m.parameters()]
        return list({id(p): p for p in params}.values())

    def apply(self, model: Any, cfg: Any, total_steps: int) -> Any:
        freeze_all(model)
        for p in self._selected(model):
            p.requires_grad_(True)
        return model

    def promised(self, model: Any, cfg: Any) -> int:
        return sum(p.numel() for p in self._selected(model))

    def save(self, model: Any, tokenizer: Any, dest: Path) -> None:
        save_trained(model, tokenizer, dest, "bitfit", {})
