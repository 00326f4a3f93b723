"""IA3 (Liu et al., 2022) through PEFT: learned vectors rescale keys, values and the FFN input."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ils.train.methods import METHODS, Method
from ils.train.methods.common import head_params, linear_layers, peft_task


class IA3Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target_modules: list[str] | None = Field(None, description="default: PEFT's choice for the model type")
    feedforward_modules: list[str] | None = Field(None, description="targets scaled on their input side")


@METHODS.register
class IA3(Method):
    name = "ia3"
    Options = IA3Options

    def _targets(self, model: Any, cfg: Any) -> tuple[list[str], list[str]]:
        from peft.utils.constants import TRANSFORMERS_MODELS_TO_IA3_FEEDFORWARD_MODULES_MAPPING as FF
        from peft.utils.constants import TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING as TM

        o, kind = self.options(cfg), model.config.model_type
        return o.target_modules or TM[kind], o.feedforward_modules or FF[kind]

    def apply(self, model: Any, cfg: Any, total_steps: int) -> Any:
        from peft import IA3Config, get_peft_model

        targets, ff = self._targets(model, cfg)
        return get_peft_model(model, IA3Config(task_type=peft_task(cfg), target_modules=targets,
                                               feedforward_modules=ff))

    def promised(self, model: Any, cfg: Any) -> int:
        targets, ff = self._targets(model, cfg)
        ff_ids = {id(m) for _, m in linear_layers(model, ff)}
        return sum(m.in_features if id(m) in ff_ids else m.out_features
                   for _, m in linear_layers(model, targets)) + head_params(model)
