"""Activation checkpointing chosen from the memory a micro-batch would need, so long inputs fit in RAM.

Without checkpointing, training keeps every block's activations until the backward pass: measured on
the default model (SmolLM2-135M, LoRA r=16 on every linear layer, fp32) about 100 KB per token per
layer, so 8 × 1,024 tokens × 30 layers hold ~24 GB, far more than the weights (0.5 GB) or the logits
(computed only at trained positions, ``ils.train.objective``). A checkpointed block keeps only its
input (4 bytes × width per token) and recomputes the rest in the backward pass.

``activation_checkpointing: auto`` (unset) checkpoints the fewest blocks that bring the estimate for
the largest micro-batch under ``activation_budget_mb``; each checkpointed block costs one more forward
of that block (all of them: ~25% slower). ``true`` checkpoints every block, ``false`` none. The blocks
are transformers' ``GradientCheckpointingLayer``s, switched one by one through their own flag.

``steady_malloc``: with every block checkpointed, 8 × 1,024 tokens still peaked at 7.5 GB RSS, against
2.2 GB once glibc serves large blocks from mmap. Its default raises the mmap threshold as large tensors
are freed (up to 32 MB), after which the activation-sized blocks (8 × 1,024 × 576 floats: 19 MB) come
from the heap, whose freed holes are neither reused whole nor returned to the system.
"""

from __future__ import annotations

import ctypes
import math
import platform
from typing import Any

# Saved activations per token per block, in elements of width (hidden) and MLP width (intermediate):
# measured 103.6 KB/token/block on SmolLM2-135M (576, 1536) with LoRA dropout, fp32, by counting the
# storages autograd saves (dropout copies of each LoRA input, q/k/v, MLP gate/up/act products).
PER_HIDDEN, PER_INTERMEDIATE = 24, 7


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)


def steady_malloc(threshold: int = 4 * 2**20) -> bool:
    """On glibc, serve allocations above ``threshold`` bytes from mmap (returned to the system on free)
    for the rest of the process; a fixed threshold also stops glibc from raising it. False elsewhere."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    return bool(ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, threshold))


def block_bytes(config: Any, tokens: int, bf16: bool) -> tuple[float, float]:
    """(activations one block keeps, the input a checkpointed block keeps) for ``tokens`` tokens."""
    size = 2 if bf16 else 4  # bf16 halving is assumed (no bf16 hardware here to measure it)
    hidden = config.hidden_size
    inter = getattr(config, "intermediate_size", None) or 4 * hidden
    return tokens * size * (PER_HIDDEN * hidden + PER_INTERMEDIATE * inter), tokens * size * hidden


def blocks_to_checkpoint(n: int, full: float, kept: float, budget: float) -> int:
    """The fewest of ``n`` blocks to checkpoint so that plain blocks + checkpointed inputs + one block
    being recomputed in the backward pass stay under ``budget`` bytes."""
    if n * full <= budget:
        return 0
    need = (n * full + full - budget) / max(full - kept, 1.0)
    return min(n, max(1, math.ceil(need)))


def pretrained(model: Any) -> Any:
    """The transformers model inside a PEFT wrapper or a head (whatever has the checkpointing switch)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    for m in base.modules():
        if getattr(m, "supports_gradient_checkpointing", False) and hasattr(m, "activation_checkpointing_enable"):
            return m
    return None


def checkpoint_blocks(model: Any, count: int | None = None) -> int:
    """Checkpoint the first ``count`` blocks (all when None); returns how many are checkpointed."""
    from transformers.modeling_layers import GradientCheckpointingLayer

    base = pretrained(model)
    if base is None:
        return 0
    base.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    if count is None:  # forced: also for prompt learning, whose PEFT forward would otherwise build a cache
        base.config.use_cache = False
    blocks = [m for m in base.modules() if isinstance(m, GradientCheckpointingLayer)]
    if count is None or not blocks:
        return len(blocks)
    for i, block in enumerate(blocks):
        block.gradient_checkpointing = i < count
    return min(count, len(blocks))


def largest_batch_tokens(loss_module: Any, items: list, batch_size: int, pad_id: int) -> int:
    """Tokens of the largest micro-batch the run can draw: its ``batch_size`` longest items, collated
    by the objective (DPO's chosen and rejected rows both count)."""
    longest = sorted(items, key=lambda item: len(item[0]), reverse=True)[:batch_size]
    return int(loss_module.collate(longest, pad_id)["input_ids"].numel())


def choose_checkpointing(cfg: Any, model: Any, loss_module: Any, items: list, pad_id: int) -> int:
    """Apply the run's setting; returns the number of checkpointed blocks (recorded in ils.json)."""
    from ils.train.objective import is_prompt_learning

    if cfg.activation_checkpointing is False:
        return 0
    if cfg.activation_checkpointing:
        return checkpoint_blocks(model)
    base = pretrained(model)
    if base is None or is_prompt_learning(model):  # prefix/prompt tuning run PEFT's own cached forward
        return 0
    layers = getattr(base.config, "num_hidden_layers", None)
    if not layers or not hasattr(base.config, "hidden_size"):
        return 0
    tokens = largest_batch_tokens(loss_module, items, cfg.batch_size, pad_id)
    full, kept = block_bytes(base.config, tokens, bool(cfg.bf16))
    count = blocks_to_checkpoint(layers, full, kept, cfg.activation_budget_mb * 2**20)
    return checkpoint_blocks(model, count) if count else 0
