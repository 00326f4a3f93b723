"""Prefix tuning (Li & Liang, 2021) through PEFT: trained key/value prefixes in every attention layer.

Prompt-learning methods need PEFT's own forward (it injects the virtual tokens), so the objective
falls back to the full forward for them; they apply to causal LMs only.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ils.train.methods import METHODS, Method


class PrefixOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    num_virtual_tokens: int = Field(10, ge=1, description="prefix length per layer")


@METHODS.register
class Prefix(Method):
    name = "prefix"
    Options = PrefixOptions
    causal_only = True

    def apply(self, model: Any, cfg: Any, total_steps: int) -> Any:
        from peft import PrefixTuningConfig, TaskType, get_peft_model

        n = self.options(cfg).num_virtual_tokens
        return get_peft_model(model, PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=n))

    def promised(self, model: Any, cfg: Any) -> int:
        c = model.config
        head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
        kv = getattr(c, "num_key_value_heads", None) or c.num_attention_heads
        return self.options(cfg).num_virtual_tokens * c.num_hidden_layers * 2 * kv * head_dim
