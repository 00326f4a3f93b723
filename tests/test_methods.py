"""One table of cases covers every tuning method with the same checks (in the spirit of PEFT's
test_custom_models.py): the trainable-parameter count it promises, the loss going down, and
save → load (``load_run``) giving the same outputs as the model that was saved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ils.config import LoraOptions, TrainConfig
from ils.errors import ConfigError
from ils.train.loop import train
from ils.train.methods import count_trainable, get_method

# (method, method_options, learning rate, model fixture)
CASES = [
    ("full", {}, 3e-3, "tiny_llama"),
    ("freeze", {"top_k": 1}, 1e-2, "tiny_llama"),
    ("freeze", {"top_k": 1, "train_head": False}, 1e-2, "tiny_llama"),
    ("lora", {}, 1e-2, "tiny_llama"),
    ("dora", {}, 1e-2, "tiny_llama"),
    ("adalora", {"init_r": 4, "target_r": 2}, 5e-2, "tiny_llama"),
    ("ia3", {}, 3e-1, "tiny_llama"),
    ("prefix", {"num_virtual_tokens": 4}, 2e-1, "tiny_llama"),
    ("prompt", {"num_virtual_tokens": 4}, 2e-1, "tiny_llama"),
    ("adapter", {"size": 8}, 5e-2, "tiny_llama"),
    ("adapter", {"size": 8, "style": "pfeiffer"}, 5e-2, "tiny_llama"),
    ("bitfit", {}, 5e-2, "tiny_llama_bias"),
]
IDS = [f"{m}-{'-'.join(f'{k}={v}' for k, v in o.items())}" if o else m for m, o, _, _ in CASES]


def _cfg(model: Path, data: Path, out: Path, method: str, options: dict, lr: float, **kw) -> TrainConfig:
    base = dict(model=str(model), data=str(data), output=str(out), method=method, method_options=options,
                max_steps=16, batch_size=4, lr=lr, warmup_steps=1, eval_every=0, save_every=0, bf16=False,
                lora=LoraOptions(r=4, alpha=8, dropout=0.0))
    return TrainConfig(**{**base, **kw})


def _logits(model, ids: torch.Tensor) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits


@pytest.mark.parametrize("method,options,lr,fixture", CASES, ids=IDS)
def test_method(method, options, lr, fixture, toy_data, tmp_path, request, monkeypatch):
    from transformers import AutoModelForCausalLM

    from ils.models.loading import load_run

    model_dir = request.getfixturevalue(fixture)
    cfg = _cfg(model_dir, toy_data, tmp_path / "run", method, options, lr)
    m = get_method(method)
    base = AutoModelForCausalLM.from_pretrained(model_dir)
    m.check(base, cfg)
    promised = m.promised(base, cfg)
    assert count_trainable(m.apply(base, cfg, 16)) == promised

    ids = torch.tensor([[5, 6, 7, 8, 9, 10]])
    saved = {}
    original_save = type(m).save

    def spy(self, model, tok, dest):
        saved["logits"] = _logits(model, ids)
        original_save(self, model, tok, dest)

    monkeypatch.setattr(type(m), "save", spy)
    before = data_loss(m.apply(AutoModelForCausalLM.from_pretrained(model_dir), cfg, 16), cfg)
    run = train(cfg)
    info = json.loads((run / "ils.json").read_text())
    assert info["trainable_params"] == promised and info["method"] == method
    loaded, _, _ = load_run(run)
    assert torch.allclose(_logits(loaded, ids), saved["logits"], atol=1e-5)
    assert data_loss(loaded, cfg) < 0.98 * before  # a random tiny model: prompts move it least


def data_loss(model, cfg: TrainConfig) -> float:
    """Mean loss per response token over the whole training set (steady, unlike per-batch losses)."""
    from ils.models.loading import load_tokenizer
    from ils.train.data import load_train_data
    from ils.train.objective import ResponseLoss

    data = load_train_data(cfg, load_tokenizer(cfg.model))
    objective = ResponseLoss(model).eval()
    with torch.no_grad():
        total, n = objective(**ResponseLoss.collate(data.train, 0))
    return total.item() / n.item()


def test_peft_methods_save_in_peft_format(tiny_llama, toy_data, tmp_path):
    run = train(_cfg(tiny_llama, toy_data, tmp_path / "run", "ia3", {}, 1e-2, max_steps=2))
    config = json.loads((run / "adapter" / "adapter_config.json").read_text())
    assert config["peft_type"] == "IA3"


def test_bitfit_refuses_a_model_without_biases(tiny_llama, toy_data, tmp_path):
    with pytest.raises(ConfigError, match="has none"):
        train(_cfg(tiny_llama, toy_data, tmp_path / "run", "bitfit", {}, 1e-2))
    assert not (tmp_path / "run" / "ils.json").exists()


def test_options_that_do_not_fit_the_method(tiny_llama, toy_data, tmp_path):
    with pytest.raises(ConfigError, match="method_options.rank: Extra inputs"):
        train(_cfg(tiny_llama, toy_data, tmp_path / "a", "prefix", {"rank": 4}, 1e-2))
    with pytest.raises(ConfigError, match="top_k: 5 > the model's 2 blocks"):
        train(_cfg(tiny_llama, toy_data, tmp_path / "b", "freeze", {"top_k": 5}, 1e-2))


def test_neftune_and_dropout_change_training_only(tiny_llama):
    from transformers import AutoModelForCausalLM

    from ils.train.regularise import add_neftune, set_dropout

    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    ids = torch.tensor([[5, 6, 7]])
    clean = _logits(model, ids)
    add_neftune(model, 5.0)
    set_dropout(model, 0.3)
    assert model.config.attention_dropout == 0.3
    assert torch.allclose(_logits(model, ids), clean)  # eval: no noise
    model.train()
    with torch.no_grad():
        assert not torch.allclose(model(input_ids=ids).logits, clean)


def test_adalora_orthogonality_penalty_pulls_p_and_q_toward_orthogonal(tiny_llama, toy_data, tmp_path):
    from transformers import AutoModelForCausalLM

    def penalty(weight: float):
        cfg = _cfg(tiny_llama, toy_data, tmp_path / "run", "adalora",
                   {"init_r": 4, "target_r": 2, "orth_reg_weight": weight}, 1e-2)
        model = get_method("adalora").apply(AutoModelForCausalLM.from_pretrained(tiny_llama), cfg, 16)
        return model, get_method("adalora").regularizer(model)

    model, reg = penalty(0.5)
    assert reg.ndim == 0 and reg.item() > 0 and reg.requires_grad
    reg.backward()
    assert any(p.grad is not None for n, p in model.named_parameters() if "lora_A" in n)
    assert penalty(0.0)[1] is None
    assert get_method("lora").regularizer(model) is None
