"""FGM/PGD on embeddings: the perturbation's size, training of a causal LM and an encoder head with it,
and options the run cannot honour refused before a run folder exists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ils.config import AdversarialOptions, HeadOptions, LoraOptions, TrainConfig
from ils.errors import ConfigError
from ils.train.loop import train


def _cfg(model: Path, data: Path, out: Path, **kw) -> TrainConfig:
    base = dict(model=str(model), data=str(data), output=str(out), max_steps=6, batch_size=4, lr=1e-2,
                warmup_steps=0, eval_every=0, save_every=0, bf16=False, lora=LoraOptions(r=4, alpha=8))
    return TrainConfig(**{**base, **kw})


def _rows(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if '"loss"' in x]


class _Toy(torch.nn.Module):
    """Embedding → linear: small enough to check the attack's arithmetic by hand."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.emb, self.out = torch.nn.Embedding(10, 4), torch.nn.Linear(4, 3)

    def get_input_embeddings(self):
        return self.emb

    def loss(self, x, y):
        return torch.nn.functional.cross_entropy(self.out(self.emb(x)).flatten(0, 1), y.flatten(), reduction="sum")


@pytest.mark.parametrize("attack,steps", [("fgm", 1), ("pgd", 3)])
def test_the_perturbation_stays_within_epsilon_and_raises_the_loss(attack, steps):
    from ils.train.adversarial import Adversary

    model = _Toy()
    cfg = TrainConfig(data="x", adversarial=AdversarialOptions(attack=attack, epsilon=0.5, steps=steps))
    adv = Adversary(model, cfg)
    x, y = torch.tensor([[1, 2, 3], [4, 5, 6]]), torch.tensor([[0, 1, 2], [2, 1, 0]])
    clean = model.loss(x, y)
    clean.backward()
    seen = {}

    def loss_of():
        seen["delta"] = adv.hook.delta
        return model.loss(x, y)

    adv.after_backward(loss_of, lambda loss: loss.backward(), scale=1.0)
    norms = seen["delta"].flatten(1).norm(dim=1)
    assert torch.all(norms <= 0.5 + 1e-5) and torch.all(norms > 0.5 * 0.9)  # per sequence, on the sphere
    assert adv.last > clean.item()  # the adversarial point is worse than the clean one
    assert adv.hook.delta is None  # the next clean forward is clean again


@pytest.mark.parametrize("attack", ["fgm", "pgd"])
def test_a_causal_lm_trains_with_an_attack_and_logs_its_loss(attack, tiny_llama, toy_data, tmp_path):
    run = train(_cfg(tiny_llama, toy_data, tmp_path / "run", adversarial=AdversarialOptions(attack=attack, epsilon=0.1)))
    rows = _rows(run)
    assert all(r["adv_loss"] > 0 for r in rows)
    assert (run / "adapter" / "adapter_model.safetensors").is_file()


def test_an_encoder_head_trains_with_pgd_on_all_its_embeddings(tiny_bert, tmp_path):
    from test_heads import folder, sentiment_tsv

    data = folder(tmp_path, "sentiment", sentiment_tsv(tmp_path / "tr.tsv", 40, 0), sentiment_tsv(tmp_path / "va.tsv", 8, 1))
    adv = AdversarialOptions(attack="pgd", epsilon=0.5, steps=2, embedding="bert.embeddings")
    run = train(_cfg(tiny_bert, data, tmp_path / "run", head=HeadOptions(kind="sequence"), method="full",
                     max_length=32, adversarial=adv))
    assert all(r["adv_loss"] > 0 for r in _rows(run))


def test_attack_options_the_run_cannot_honour_are_refused_before_the_run_folder(tiny_llama, toy_data, tmp_path):
    from ils.train.methods import METHODS
    from ils.train.methods.lora import Lora

    class Opaque(Lora):
        name = "opaque-test"
        embedding_access = False

    METHODS.add(Opaque)
    try:
        cases = [(dict(method="opaque-test", adversarial=AdversarialOptions(attack="fgm")),
                  "method 'opaque-test' gives no access to the input embeddings"),
                 (dict(adversarial=AdversarialOptions(attack="fgm", embedding="model.nope")),
                  "adversarial.embedding: no module 'model.nope' in LlamaForCausalLM; embedding modules: model.embed_tokens"),
                 (dict(adversarial=AdversarialOptions(epsilon=0.5)), "adversarial.epsilon: set adversarial.attack"),
                 (dict(adversarial=AdversarialOptions(attack="fgm", steps=4)), "adversarial.steps: fgm takes one step")]
        for kw, message in cases:
            with pytest.raises(ConfigError, match=message):
                train(_cfg(tiny_llama, toy_data, tmp_path / "run", **kw))
            assert not (tmp_path / "run").exists()
    finally:
        METHODS.remove("opaque-test")
