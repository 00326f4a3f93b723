"""The training objective: next-token loss on response tokens only.

Logits are computed only where a label is trained. With short answers after long prompts that skips
most of the 49k-wide output projection (the largest single matmul of a small model) and its memory.
The module wraps the model so DDP (via accelerate) sees one forward call.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ResponseLoss(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(sum of token losses, number of trained tokens); the caller divides over a whole step."""
        causal = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        backbone = getattr(causal, causal.base_model_prefix, None)
        target = labels[:, 1:]
        keep = target != -100
        if backbone is None or causal.get_output_embeddings() is None:
            logits = causal(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1][keep]
        else:
            hidden = backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            logits = causal.get_output_embeddings()(hidden[:, :-1][keep])
        loss = F.cross_entropy(logits.float(), target[keep], reduction="sum")
        return loss, keep.sum()
