"""Continual options on the tiny model: continuing from a previous run, EWC's stored Fisher and penalty,
LwF's stored teacher and its KL, one adapter per task routed at inference, and every option refused
before a run folder exists when it cannot run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import build_tiny_llama
from safetensors.torch import load_file

from ils.config import ContinualOptions, LoraOptions, TrainConfig
from ils.errors import ConfigError
from ils.records import Example, write_examples
from ils.train.loop import train


def _cfg(model: Path, data: Path, out: Path, **kw) -> TrainConfig:
    base = dict(model=str(model), data=str(data), output=str(out), max_steps=8, batch_size=4, lr=2e-2,
                warmup_steps=0, eval_every=0, save_every=0, bf16=False, lora=LoraOptions(r=4, alpha=8, dropout=0.0))
    return TrainConfig(**{**base, **kw})


def _upper(n: int, seed: int = 0) -> list[Example]:
    import random

    rng = random.Random(seed)
    words = ["cat", "dog", "sun", "map", "red", "hat"]
    return [Example.from_alpaca(f"Uppercase the word: {w}", "", w.upper(), task="toy_upper", answer=w.upper(),
                                id=f"up-{i}") for i, w in enumerate(rng.choice(words) for _ in range(n))]


@pytest.fixture
def task_b(tmp_path) -> Path:
    folder = tmp_path / "data-b"
    write_examples(folder / "train.jsonl", _upper(24))
    write_examples(folder / "test.jsonl", _upper(6, seed=1))
    return folder


@pytest.fixture
def run_a(tiny_llama, toy_data, tmp_path) -> Path:
    return train(_cfg(tiny_llama, toy_data, tmp_path / "a"))


def _adapter(run: Path) -> dict:
    return load_file(run / "adapter" / "adapter_model.safetensors")


def _distance(a: dict, b: dict) -> float:
    return sum(((a[k] - b[k]) ** 2).sum().item() for k in a) ** 0.5


def test_previous_continues_from_its_weights(run_a, task_b, tiny_llama, tmp_path):
    b = train(_cfg(tiny_llama, task_b, tmp_path / "b-run", lr=1e-9, max_steps=1,
                   continual=ContinualOptions(previous=str(run_a))))
    assert _distance(_adapter(b), _adapter(run_a)) < 1e-5  # started at A's adapter, barely moved


def test_ewc_stores_fisher_and_anchor_and_holds_the_weights(run_a, task_b, tiny_llama, tmp_path):
    plain = train(_cfg(tiny_llama, task_b, tmp_path / "plain", continual=ContinualOptions(previous=str(run_a))))
    held = train(_cfg(tiny_llama, task_b, tmp_path / "ewc",
                      continual=ContinualOptions(previous=str(run_a), ewc=1e6, ewc_samples=8)))
    stored = load_file(held / "continual" / "ewc.safetensors")
    fisher = {k: v for k, v in stored.items() if k.startswith("fisher.")}
    assert fisher and all((v >= 0).all() for v in fisher.values()) and any(v.sum() > 0 for v in fisher.values())
    a = _adapter(run_a)
    anchors = {k.removeprefix("anchor."): v for k, v in stored.items() if k.startswith("anchor.")}
    assert sorted(torch.cat([v.flatten() for v in anchors.values()]).tolist()) == pytest.approx(
        sorted(torch.cat([v.flatten() for v in a.values()]).tolist()))  # the anchor is A's adapter
    assert _distance(_adapter(held), a) < 0.5 * _distance(_adapter(plain), a)
    rows = [json.loads(x) for x in (held / "metrics.jsonl").read_text().splitlines() if '"loss"' in x]
    assert rows[0]["ewc"] == 0.0 and rows[-1]["ewc"] > 0


def test_ewc_of_a_chain_adds_the_earlier_fisher(run_a, task_b, toy_data, tiny_llama, tmp_path):
    b = train(_cfg(tiny_llama, task_b, tmp_path / "b", max_steps=2,
                   continual=ContinualOptions(previous=str(run_a), ewc=1.0, ewc_samples=4)))
    c = train(_cfg(tiny_llama, toy_data, tmp_path / "c", max_steps=1,
                   continual=ContinualOptions(previous=str(b), ewc=1.0, ewc_samples=4, ewc_data=str(task_b))))
    fb, fc = load_file(b / "continual" / "ewc.safetensors"), load_file(c / "continual" / "ewc.safetensors")
    key = next(k for k in fb if k.startswith("fisher.") and fb[k].sum() > 0)
    assert (fc[key] >= fb[key] - 1e-9).all() and fc[key].sum() > fb[key].sum()


def test_topk_kl_is_exact_with_the_whole_vocabulary_and_a_lower_bound_below_it():
    from ils.train.continual.lwf import topk_kl

    torch.manual_seed(0)
    t, s = torch.randn(5, 40), torch.randn(5, 40)
    full = (t.softmax(-1) * (t.log_softmax(-1) - s.log_softmax(-1))).sum(-1)
    everything = t.log_softmax(-1).topk(40)
    assert torch.allclose(topk_kl(s, everything.indices, everything.values), full, atol=1e-5)
    top8 = t.log_softmax(-1).topk(8)
    part = topk_kl(s, top8.indices, top8.values)
    assert torch.all(part <= full + 1e-6) and torch.all(part >= 0)


def test_lwf_stores_the_teacher_once_and_starts_at_zero_kl(run_a, task_b, tiny_llama, tmp_path):
    run = train(_cfg(tiny_llama, task_b, tmp_path / "lwf", continual=ContinualOptions(previous=str(run_a), lwf=1.0,
                                                                                       lwf_top_k=8)))
    stored = load_file(run / "continual" / "lwf.safetensors")
    n_tokens = int(stored["offsets"][-1])
    assert stored["ids"].shape == stored["logp"].shape == (n_tokens, 8) and len(stored["offsets"]) == 25
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if '"loss"' in x]
    assert rows[0]["lwf"] == pytest.approx(0.0, abs=1e-4)  # the student starts as the teacher
    assert rows[-1]["lwf"] > 1e-3


def test_one_adapter_per_task_is_routed_at_inference(run_a, task_b, tiny_llama, tmp_path):
    from ils.evaluate.routed import RoutedEngine
    from ils.infer.protocol import Sampling

    b = train(_cfg(tiny_llama, task_b, tmp_path / "b", continual=ContinualOptions(previous=str(run_a), adapters=True)))
    listed = json.loads((b / "adapters.json").read_text())["adapters"]
    assert [a["run"] for a in listed.values()] == [str(run_a.resolve()), str(b.resolve())]
    assert _distance(_adapter(b), _adapter(run_a)) > 0.1  # a fresh adapter, not A's continued
    engine = RoutedEngine.load(str(b), batch_size=4)
    try:
        prompts = [[{"role": "user", "content": "Add 4 and 2."}], [{"role": "user", "content": "Uppercase the word: sun"}]]
        assert engine.route(prompts) == list(listed)
        routed = engine.generate(prompts, Sampling(max_new_tokens=4))
        direct = [engine.inner.generate([p], Sampling(max_new_tokens=4), adapter=n)[0]
                  for p, n in zip(prompts, listed)]
        assert [c.text for c in routed] == [c.text for c in direct]
    finally:
        engine.close()


def _teacher_with_another_tokenizer(tiny_llama: Path, dest: Path) -> Path:
    from transformers import AutoTokenizer

    shutil.copytree(tiny_llama, dest)
    tok = AutoTokenizer.from_pretrained(dest)
    tok.add_tokens(["<other>"])
    tok.save_pretrained(dest)
    return dest


def test_continual_options_that_cannot_run_are_refused_before_the_run_folder(run_a, task_b, tiny_llama, tmp_path):
    unfinished = tmp_path / "unfinished"
    shutil.copytree(run_a, unfinished)
    info = json.loads((unfinished / "ils.json").read_text())
    (unfinished / "ils.json").write_text(json.dumps({**info, "status": "training"}))
    other = _teacher_with_another_tokenizer(tiny_llama, tmp_path / "other")
    cases = [
        (ContinualOptions(ewc=10.0), {}, "continual.ewc: EWC needs the previous task"),
        (ContinualOptions(lwf=1.0), {}, "continual.lwf: LwF needs the previous model"),
        (ContinualOptions(previous=str(run_a), lwf=1.0, teacher=str(other)), {},
         "continual.teacher: .*its tokenizer differs from the student's"),
        (ContinualOptions(previous=str(run_a)), {"method": "full"}, "method: 'full' differs from continual.previous's"),
        (ContinualOptions(previous=str(run_a)), {"lora": LoraOptions(r=8)}, "lora: .* differs from continual.previous"),
        (ContinualOptions(previous=str(run_a), adapters=True), {"method": "ia3"}, "continual.adapters: one LoRA adapter"),
        (ContinualOptions(previous=str(unfinished)), {}, "continual.previous: .*unfinished: the run has not finished"),
        (ContinualOptions(previous=str(tmp_path / "nope")), {}, "continual.previous: .*nope: not a run folder"),
        (ContinualOptions(previous=str(run_a), lwf=1.0), {"objective": "dpo"}, "continual.lwf: .*objective dpo"),
        (ContinualOptions(previous=str(run_a)), {"model": str(build_tiny_llama(tmp_path / "m2", seed=3))},
         "model: .* is not the base model"),
    ]
    for options, kw, message in cases:
        with pytest.raises(ConfigError, match=message):
            train(_cfg(kw.pop("model", tiny_llama), task_b, tmp_path / "run", continual=options, **kw))
        assert not (tmp_path / "run").exists()
