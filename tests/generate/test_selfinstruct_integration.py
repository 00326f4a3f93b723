"""One short round with the real default model from the bundled 175 seed tasks."""

from pathlib import Path

import pytest

SEEDS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "self_instruct_seed" / "seed_tasks.jsonl"


@pytest.mark.integration
@pytest.mark.data
@pytest.mark.skipif(not SEEDS.is_file(), reason="../shared/data/self_instruct_seed is absent")
def test_one_round_with_the_default_model(tmp_path):
    from ils.generate import EngineBackend, SelfInstructConfig, run

    cfg = SelfInstructConfig(n=1000, prompts_per_round=2, max_rounds=1, instruction_tokens=40, instance_tokens=40)
    man = run(SEEDS, tmp_path / "ds", cfg, EngineBackend.load("default"))
    assert man["seed_tasks"] == 175 and man["candidates"] > 0  # the model continues the numbered list
    assert len(man["rounds"]) == 1 and (tmp_path / "ds" / "plots" / "rouge_vs_seeds.png").is_file()
