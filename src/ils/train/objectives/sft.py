"""Supervised fine-tuning: next-token loss on the response tokens (``ils.train.objective.ResponseLoss``)."""

from __future__ import annotations

from ils.train.objectives import OBJECTIVES, Objective


class SFT(Objective):
    name = "sft"
    causal_only = False  # an encoder head run keeps its head's loss under the default objective


OBJECTIVES.add(SFT())
