"""The training loop on a tiny model: loss goes down, resume is exact, outputs load without ILS."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from ils.config import LoraOptions, TrainConfig
from ils.errors import ConfigError, TrainingError
from ils.train.loop import train


def _cfg(model: Path, data: Path, out: Path, **kw) -> TrainConfig:
    base = dict(model=str(model), data=str(data), output=str(out), max_steps=12, batch_size=4, lr=1e-2,
                warmup_steps=2, eval_every=4, save_every=2, bf16=False, lora=LoraOptions(r=4, alpha=8, dropout=0.1))
    return TrainConfig(**{**base, **kw})


def _losses(run: Path) -> list[tuple[int, float]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"]) for r in rows if "loss" in r]


def test_training_lowers_the_loss(tiny_llama, toy_data, tmp_path):
    run = train(_cfg(tiny_llama, toy_data, tmp_path / "run", max_steps=30, eval_every=10))
    losses = [loss for _, loss in _losses(run)]
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 * 0.85
    assert (run / "plots" / "loss.png").stat().st_size > 1000
    assert list((run / "events").glob("events.out.tfevents.*"))
    info = json.loads((run / "ils.json").read_text())
    assert info["status"] == "done" and info["method"] == "lora" and 0 < info["trainable_params"]


def test_adapter_loads_with_plain_peft(tiny_llama, toy_data, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from ils.models.loading import load_run

    run = train(_cfg(tiny_llama, toy_data, tmp_path / "run", max_steps=6))
    plain = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llama), str(run / "adapter")).eval()
    ours, _, _ = load_run(run)
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        assert torch.allclose(plain(ids).logits, ours(ids).logits)
    base = AutoModelForCausalLM.from_pretrained(tiny_llama).eval()
    with torch.no_grad():
        assert not torch.allclose(base(ids).logits, plain(ids).logits)  # the adapter changed something


def test_full_fine_tuning_saves_a_model(tiny_llama, toy_data, tmp_path):
    from transformers import AutoModelForCausalLM

    run = train(_cfg(tiny_llama, toy_data, tmp_path / "run", method="full", max_steps=4, lr=1e-3))
    assert (run / "model" / "model.safetensors").is_file()
    assert not (run / "adapter").exists()
    AutoModelForCausalLM.from_pretrained(run / "model")


KILLER = textwrap.dedent("""
    import os, signal, sys
    from ils.config import TrainConfig
    from ils.train.loop import train
    cfg = TrainConfig.model_validate_json(sys.argv[1])
    def die(step, metrics):
        if step == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)
    train(cfg, on_step=die)
""")


def test_resume_after_sigkill_logs_the_same_losses(tiny_llama, toy_data, tmp_path):
    whole = train(_cfg(tiny_llama, toy_data, tmp_path / "whole", grad_accum=2))
    cfg = _cfg(tiny_llama, toy_data, tmp_path / "killed", grad_accum=2)
    proc = subprocess.run([sys.executable, "-c", KILLER, cfg.model_dump_json(), "7"], capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    assert not (tmp_path / "killed" / "adapter").exists()
    assert sorted(p.name for p in (tmp_path / "killed" / "checkpoints").glob("step-*"))[-1] == "step-0000006"
    resumed = train(cfg, resume=True)
    assert _losses(resumed) == _losses(whole)
    a = (whole / "adapter" / "adapter_model.safetensors").read_bytes()
    assert a == (resumed / "adapter" / "adapter_model.safetensors").read_bytes()


def test_early_stopping_keeps_the_best_weights(tiny_llama, toy_data, tmp_path):
    run = train(_cfg(tiny_llama, toy_data, tmp_path / "run", max_steps=40, lr=0.5, eval_every=2, patience=2))
    info = json.loads((run / "ils.json").read_text())
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    vals = [(r["step"], r["val_loss"]) for r in rows if "val_loss" in r]
    assert info["steps"] < 40  # stopped early: lr 0.5 diverges
    assert info["best_step"] == min(vals, key=lambda v: v[1])[0]


def test_existing_output_needs_resume(tiny_llama, toy_data, tmp_path):
    train(_cfg(tiny_llama, toy_data, tmp_path / "run", max_steps=2))
    with pytest.raises(TrainingError, match="already exists"):
        train(_cfg(tiny_llama, toy_data, tmp_path / "run", max_steps=2))


def test_unknown_method_lists_known_and_the_corrected_rerun_starts(tiny_llama, toy_data, tmp_path):
    with pytest.raises(ConfigError, match="unknown method 'nope'; known: adalora, adapter, bitfit, dora, freeze, full, ia3, lora, prefix, prompt"):
        train(_cfg(tiny_llama, toy_data, tmp_path / "run", method="nope"))
    with pytest.raises(ConfigError, match="method_options.rank: Extra inputs"):
        train(_cfg(tiny_llama, toy_data, tmp_path / "run", method="adapter", method_options={"rank": 4}))
    assert not (tmp_path / "run").exists()  # nothing was created, so the corrected run is not refused
    assert train(_cfg(tiny_llama, toy_data, tmp_path / "run", max_steps=1)).is_dir()


def test_activation_checkpointing_gives_the_same_losses(tiny_llama, toy_data, tmp_path):
    kw = dict(max_steps=4, eval_every=0, save_every=0, lora=LoraOptions(r=4, alpha=8, dropout=0.0))
    plain = train(_cfg(tiny_llama, toy_data, tmp_path / "plain", **kw))
    ckpt = train(_cfg(tiny_llama, toy_data, tmp_path / "ckpt", activation_checkpointing=True, **kw))
    for (s1, a), (s2, b) in zip(_losses(plain), _losses(ckpt)):
        assert s1 == s2 and abs(a - b) < 1e-5


def test_eval_block_scores_few_shot_baselines_beside_before_and_after(tiny_llama, tmp_path):
    from ils.config import EvalOptions
    from ils.tasks.procedural import build_dataset

    data = build_dataset(tmp_path / "data", ["add"], n=40, seed=0)
    test = str(data / "test.jsonl")
    run = train(_cfg(tiny_llama, data, tmp_path / "run", max_steps=2, eval_every=0, save_every=0,
                     eval=EvalOptions(test=test, limit=3, max_new_tokens=4, modes=["few-shot:2"])))
    combined = json.loads((run / "eval" / "report.json").read_text())  # the layout `ils eval -o` writes
    assert list(combined["modes"]) == ["zero-shot", "few-shot:2", str(run)]
    assert {(r["task"], r["mode"]) for r in combined["table"]} == {("add", m) for m in combined["modes"]}
    shots = json.loads((run / "eval" / "1-few-shot-2" / "report.json").read_text())
    assert shots["tasks"]["add"]["n"] == 3 and (run / "eval" / "2-run" / "predictions.jsonl").is_file()
    assert (run / "eval" / "charts" / "metric_per_mode.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="eval modes"):
        EvalOptions(test=test, modes=[str(run)])
