"""One forward pass of a step through a Hugging Face causal LM, with the engine's attention.

The step's tokens go in as a batch of length-1 rows (``[T, 1]``): projections and MLPs see one
matrix, attention (``ils.infer.attention``) sees which sequence each token belongs to, and PEFT's
per-row adapter routing (``adapter_names``) becomes per-token, so requests for different LoRA
adapters share a batch. The vocabulary projection runs only on the rows whose logits are needed
(the last token of a finished prompt, each decoding token, tokens being scored), not on every
prompt token: it is a fifth of the model's work per token for SmolLM2.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from ils.infer import attention
from ils.infer.attention import StepLayout
from ils.infer.kvcache import Shape
from ils.infer.protocol import EngineError

PROMPT_LEARNING = {"PROMPT_TUNING", "PREFIX_TUNING", "P_TUNING", "MULTITASK_PROMPT_TUNING", "CPT"}


def unsupported(model: Any) -> str | None:
    """Why the row engine cannot run this model (None: it can)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    for cfg in getattr(model, "peft_config", {}).values():
        kind = str(getattr(cfg, "peft_type", "")).split(".")[-1]
        if kind in PROMPT_LEARNING:
            return f"{kind.lower()} adapters add virtual tokens the row cache does not hold"
    cfg = base.config
    if getattr(cfg, "final_logit_softcapping", None) or getattr(cfg, "logit_scale", None):
        return "the model scales its logits after the output layer"
    if getattr(cfg, "sliding_window", None) and getattr(cfg, "use_sliding_window", True):
        return "sliding-window attention is not implemented by the row cache"
    if not getattr(base, "_supports_attention_backend", False):
        return f"{type(base).__name__} does not route attention through transformers' attention interface"
    return None


class ModelRunner:
    def __init__(self, model: Any):
        self.model = model.eval()
        self.base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.decoder, self.head = self.base.get_decoder(), self.base.get_output_embeddings()
        self.peft = model if hasattr(model, "peft_config") else None
        self._active: Any = object()
        self.packed = _pack(model)
        self.attach()

    def shape(self) -> Shape:
        cfg = self.base.config.get_text_config()
        heads = cfg.num_attention_heads
        head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
        kv_heads = getattr(cfg, "num_key_value_heads", None) or heads
        return Shape(cfg.num_hidden_layers, kv_heads, head_dim, self.head.weight.dtype)

    @torch.inference_mode()
    def forward(self, tokens: Sequence[int], layout: StepLayout, adapters: Sequence[str | None],
                logit_rows: Sequence[int]) -> torch.Tensor:
        """Logits (float32) at ``logit_rows`` of the flat token list, after writing every token's KV."""
        ids = torch.tensor(tokens).view(-1, 1)
        mark = attention.CURRENT.set(layout)
        try:
            with self._adapters(adapters):
                hidden = self.decoder(input_ids=ids, position_ids=layout.positions.view(-1, 1),
                                      use_cache=False).last_hidden_state
        finally:
            attention.CURRENT.reset(mark)
        if not logit_rows:
            return torch.empty(0, 0)
        return self.head(hidden[list(logit_rows), 0]).float()

    def _adapters(self, names: Sequence[str | None]) -> Any:
        if self.peft is None:
            if any(names):
                raise EngineError(f"adapter {next(n for n in names if n)!r} asked of a model without adapters")
            return contextlib.nullcontext()
        distinct = set(names)
        if len(distinct) == 1:
            return self._one(distinct.pop())
        return self.peft._enable_peft_forward_hooks(adapter_names=[n or "__base__" for n in names])

    @contextlib.contextmanager
    def _one(self, name: str | None) -> Iterator[None]:
        if name is None:
            with self.peft.disable_adapter():
                yield
            return
        if self._active != name:
            self.peft.set_adapter(name)
            self._active = name
        yield

    def attach(self) -> None:
        """Route the model's attention through the engine's row cache."""
        attention.register()
        self.base.set_attn_implementation(attention.NAME)

    def release(self) -> None:
        """Give the model back with transformers' own attention and weights (it may be trained next)."""
        self.base.set_attn_implementation("sdpa")
        from ils.infer import packed

        packed.unpack(self.packed)
        self.packed = []


def _pack(model: Any) -> list:
    """oneDNN-reordered weights when this process computes on one thread (ILS_PACKED=0: never)."""
    import os

    from ils.infer import packed

    if torch.get_num_threads() != 1 or os.environ.get("ILS_PACKED", "1") == "0" or not packed.available():
        return []
    return packed.pack(model)
