"""The training objective: next-token loss on response tokens only.

Logits are computed only where a label is trained. With short answers after long prompts that skips
most of the 49k-wide output projection (the largest single matmul of a small model) and its memory.
Prompt-learning methods (prefix, prompt tuning) need PEFT's own forward, which injects the virtual
tokens, so for them the full forward runs and the logits of the virtual positions are dropped.
The module wraps the model so DDP (via accelerate) sees one forward call.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ils.train.batching import collate


def is_prompt_learning(model: nn.Module) -> bool:
    config = getattr(model, "active_peft_config", None)
    return bool(getattr(config, "is_prompt_learning", False))


class ResponseLoss(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.keep_logits = False  # LwF reads the trained-position logits of the last forward
        self.logits: torch.Tensor | None = None

    @staticmethod
    def count(labels: list[int]) -> int:
        """Trained tokens of one item (labels shift by one: the first is never predicted)."""
        return sum(1 for y in labels[1:] if y != -100)

    collate = staticmethod(collate)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(sum of token losses, number of trained tokens); the caller divides over a whole step."""
        target = labels[:, 1:]
        keep = target != -100
        logits = self._logits(input_ids, attention_mask, keep)
        self.logits = logits if self.keep_logits else None
        loss = F.cross_entropy(logits.float(), target[keep], reduction="sum")
        return loss, keep.sum()

    def _logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        if is_prompt_learning(self.model):
            out = self.model(input_ids=input_ids, attention_mask=attention_mask).logits
            return out[:, -input_ids.shape[1]:][:, :-1][keep]  # drop the virtual-token positions
        causal = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        backbone = getattr(causal, causal.base_model_prefix, None)
        if backbone is None or causal.get_output_embeddings() is None:
            return causal(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits[:, :-1][keep]
        hidden = backbone(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
        return causal.get_output_embeddings()(hidden[:, :-1][keep])
