"""ILS's DPO and KTO losses equal TRL's on a fixed batch (same token ids, same policy and reference).

TRL is a declared test dependency (``pip install -e '.[test]'``), so CI always runs this; on a laptop
without it the test skips and says how to install it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import build_tiny_llama, needs_module

ROWS = 4
BETA = 0.5  # the log-ratios move the losses well away from their values at zero, short of saturation


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("trl")
    # two random models: their log-probs of an answer differ by a few nats
    return build_tiny_llama(root / "policy", seed=1), build_tiny_llama(root / "reference", seed=0)


def _load(folder: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder)


def _args(cls, tmp_path, **kw):
    return cls(output_dir=str(tmp_path / "trl-out"), per_device_train_batch_size=ROWS, report_to="none",
               bf16=False, use_cpu=True, beta=BETA, **kw)


def _conversation(text: str, role: str = "user") -> list[dict]:
    return [{"role": role, "content": text}]


def _seq(prompt: list[int], answer: list[int]) -> tuple[list[int], list[int]]:
    return prompt + answer, [-100] * len(prompt) + answer


@pytest.mark.parametrize("sft_weight", [0.0, 0.5])
def test_dpo_loss_equals_trl(models, tmp_path, sft_weight):
    """Plain DPO (TRL's sigmoid loss) and DPO with an SFT term on the chosen answers (RPO: TRL's
    loss_type [sigmoid, sft] with loss_weights [1, w])."""
    needs_module("trl", "test")
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    from ils.train.objectives.dpo import DPOLoss, Pair
    from ils.train.objectives.logps import batch_logps

    policy_dir, ref_dir = models
    tok = AutoTokenizer.from_pretrained(ref_dir)
    rows = [{"prompt": _conversation(f"Add {i} and 3."), "chosen": _conversation(str(i + 3), "assistant"),
             "rejected": _conversation("hello world " * (i + 1), "assistant")} for i in range(ROWS)]
    policy, reference = _load(policy_dir), _load(ref_dir)
    extra = {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, sft_weight]} if sft_weight else {}
    trainer = DPOTrainer(model=policy, ref_model=reference, args=_args(DPOConfig, tmp_path, **extra),
                         train_dataset=Dataset.from_list(rows), processing_class=tok)
    data = [trainer.train_dataset[i] for i in range(ROWS)]
    policy.train()
    theirs = trainer.compute_loss(trainer.model, trainer.data_collator(data)).item()

    chosen = [_seq(r["prompt_ids"], r["chosen_ids"]) for r in data]
    rejected = [_seq(r["prompt_ids"], r["rejected_ids"]) for r in data]
    refs = zip(batch_logps(reference.eval(), chosen, tok.pad_token_id).tolist(),
               batch_logps(reference, rejected, tok.pad_token_id).tolist())
    items = [Pair(c[0], [1], c[1], r[0], r[1], ref) for c, r, ref in zip(chosen, rejected, refs)]
    loss_sum, n = DPOLoss(policy, BETA, sft_weight)(**DPOLoss.collate(items, tok.pad_token_id))
    plain, _ = DPOLoss(policy, BETA)(**DPOLoss.collate(items, tok.pad_token_id))
    assert int(n) == ROWS
    assert 0.05 < theirs < 15 and abs(theirs - 0.6931) > 0.05  # the ratios matter; loss neither 0 nor log 2
    if sft_weight:  # the SFT term is a random model's NLL per token: several nats, not a rounding error
        assert (loss_sum - plain).item() / ROWS > 1.0
    assert abs(loss_sum.item() / ROWS - theirs) < 1e-5


def test_kto_loss_equals_trl(models, tmp_path):
    needs_module("trl", "test")
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import KTOConfig, KTOTrainer

    from ils.train.objectives.kto import KTOLoss, Rated
    from ils.train.objectives.logps import batch_logps

    policy_dir, ref_dir = models
    tok = AutoTokenizer.from_pretrained(ref_dir)
    rows = [{"prompt": _conversation(f"Add {i} and 3."), "completion": _conversation(f"{i + 3} hello", "assistant"),
             "label": i != ROWS - 1} for i in range(ROWS)]
    policy, reference = _load(policy_dir), _load(ref_dir)
    trainer = KTOTrainer(model=policy, ref_model=reference, args=_args(KTOConfig, tmp_path),
                         train_dataset=Dataset.from_list(rows), processing_class=tok)
    data = [trainer.train_dataset[i] for i in range(ROWS)]
    batch = trainer.data_collator(data)
    assert "KL_input_ids" in batch  # TRL estimates z from mismatched pairs, as ILS does
    policy.train()
    theirs = trainer.compute_loss(trainer.model, batch).item()

    answers = [_seq(r["prompt_ids"], r["completion_ids"]) for r in data]
    mismatched = [_seq(r["prompt_ids"], r["KL_completion_ids"]) for r in data]
    refs = zip(batch_logps(reference.eval(), answers, tok.pad_token_id).tolist(),
               batch_logps(reference, mismatched, tok.pad_token_id).tolist())
    items = [Rated(a[0], [1], a[1], bool(r["label"]), m[0], m[1], ref)
             for a, m, r, ref in zip(answers, mismatched, data, refs)]
    loss_sum, n = KTOLoss(policy, beta=BETA)(**KTOLoss.collate(items, tok.pad_token_id))
    assert abs(theirs - 0.5) > 0.05  # the ratios and z matter at this beta
    assert abs(loss_sum.item() / int(n) - theirs) < 1e-5, (loss_sum.item() / int(n), theirs)
    assert torch.isfinite(loss_sum)
