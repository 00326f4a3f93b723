"""Training memory: the response-only loss equals the full-logits loss, and activation checkpointing is
chosen from the estimated activations of the largest micro-batch (fewest blocks, same losses)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import torch
import torch.nn.functional as F

from ils.config import LoraOptions, TrainConfig
from ils.train.batching import collate
from ils.train.memory import block_bytes, blocks_to_checkpoint, checkpoint_blocks, largest_batch_tokens
from ils.train.objective import ResponseLoss


def _lora_model(tiny_llama):
    from ils.models.loading import load_base
    from ils.train.methods import get_method

    base, _, _ = load_base(str(tiny_llama))
    cfg = TrainConfig(model=str(tiny_llama), data=".", output=".", lora=LoraOptions(r=4, alpha=8, dropout=0.0))
    return get_method("lora").apply(base, cfg, 1).train()


def _batch(seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    items = []
    for n, answer in ((12, 3), (9, 5), (15, 1)):
        ids = torch.randint(3, 200, (n,), generator=g).tolist()
        items.append((ids, [-100] * (n - answer) + ids[n - answer:]))
    return collate(items, 0)


def _grads(model) -> dict:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def test_response_only_loss_equals_the_full_logits_loss_with_the_same_gradients(tiny_llama):
    model, batch = _lora_model(tiny_llama), _batch()
    loss, n = ResponseLoss(model)(**batch)
    loss.backward()
    ours = _grads(model)
    model.zero_grad()
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    full = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), batch["labels"][:, 1:].flatten(),
                           ignore_index=-100, reduction="sum")
    full.backward()
    assert int(n) == 3 + 5 + 1  # every answer token, each predicted from the position before it
    assert abs(loss.item() - full.item()) < 1e-5 * max(1.0, abs(full.item()))
    for name, grad in _grads(model).items():
        assert torch.allclose(ours[name], grad, atol=1e-5, rtol=1e-4), name


def test_blocks_to_checkpoint_is_the_fewest_that_fit_the_budget():
    assert blocks_to_checkpoint(30, full=10.0, kept=1.0, budget=300.0) == 0  # all fit: none
    k = blocks_to_checkpoint(30, full=10.0, kept=1.0, budget=200.0)
    assert (30 - k) * 10 + k * 1 + 10 <= 200 < (30 - k + 1) * 10 + (k - 1) * 1 + 10
    assert blocks_to_checkpoint(30, full=10.0, kept=1.0, budget=5.0) == 30  # never more than there are


def test_block_bytes_matches_the_measured_figure_of_the_default_model():
    config = SimpleNamespace(hidden_size=576, intermediate_size=1536)
    full, kept = block_bytes(config, tokens=1, bf16=False)
    assert 90_000 < full < 110_000 and kept == 576 * 4  # measured 103.6 KB per token per block (fp32)
    assert block_bytes(config, tokens=1, bf16=True)[0] == full / 2


def test_largest_batch_counts_the_rows_the_objective_collates():
    items = [([1] * n, [-100] * n) for n in (3, 9, 5, 7)]
    assert largest_batch_tokens(ResponseLoss, items, 2, 0) == 2 * 9
    pairs = SimpleNamespace(collate=lambda b, pad: collate(b + b, pad))  # DPO: chosen and rejected rows
    assert largest_batch_tokens(pairs, items, 2, 0) == 4 * 9


def test_checkpoint_blocks_switches_only_the_first_ones(tiny_llama):
    model = _lora_model(tiny_llama)
    assert checkpoint_blocks(model, 1) == 1
    layers = model.get_base_model().model.layers
    assert [layer.gradient_checkpointing for layer in layers] == [True, False]


def test_auto_checkpointing_under_a_small_budget_keeps_the_losses(tiny_llama, toy_data, tmp_path):
    from test_train import _cfg, _losses

    from ils.train.loop import train

    kw = dict(max_steps=3, eval_every=0, save_every=0, lora=LoraOptions(r=4, alpha=8, dropout=0.0))
    plain = train(_cfg(tiny_llama, toy_data, tmp_path / "plain", activation_checkpointing=False, **kw))
    auto = train(_cfg(tiny_llama, toy_data, tmp_path / "auto", activation_budget_mb=1, **kw))
    assert json.loads((plain / "ils.json").read_text())["checkpointed_blocks"] == 0
    assert json.loads((auto / "ils.json").read_text())["checkpointed_blocks"] >= 1
    for (s1, a), (s2, b) in zip(_losses(plain), _losses(auto), strict=True):
        assert s1 == s2 and abs(a - b) < 1e-5


def test_steady_malloc_is_accepted_by_glibc():
    import platform

    from ils.train.memory import steady_malloc

    assert steady_malloc() == (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")
