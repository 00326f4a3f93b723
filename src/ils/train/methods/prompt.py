"""Prompt tuning (Lester et al., 2021) through PEFT: trained soft-prompt embeddings before the input.

Optionally initialised from a text (``init_text``), which usually trains faster than random.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ils.train.methods import METHODS, Method


class PromptOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    num_virtual_tokens: int = Field(16, ge=1, description="soft-prompt length")
    init_text: str | None = Field(None, description="initialise the soft prompt from this text")


@METHODS.register
class Prompt(Method):
    name = "prompt"
    Options = PromptOptions
    causal_only = True

    def apply(self, model: Any, cfg: Any, total_steps: int) -> Any:
        from peft import PromptTuningConfig, TaskType, get_peft_model

        o = self.options(cfg)
        extra = {"prompt_tuning_init": "TEXT", "prompt_tuning_init_text": o.init_text,
                 "tokenizer_name_or_path": str(_model_folder(cfg))} if o.init_text else {}
        config = PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=o.num_virtual_tokens,
                                    **extra)
        return get_peft_model(model, config)

    def promised(self, model: Any, cfg: Any) -> int:
        return self.options(cfg).num_virtual_tokens * model.config.hidden_size


def _model_folder(cfg: Any) -> Any:
    from ils.models.sources import resolve

    return resolve(cfg.model)
