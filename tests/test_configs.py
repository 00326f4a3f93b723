"""Every shipped config parses into its config model (as litgpt's config-hub test does)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ils.config import TrainConfig, load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


TRAIN = sorted(p for p in CONFIGS.glob("*.yaml") if not p.name.startswith("data_"))
DATA = sorted(CONFIGS.glob("data_*.yaml"))


@pytest.mark.parametrize("path", TRAIN, ids=lambda p: p.name)
def test_train_configs_parse(path):
    cfg = load_config(TrainConfig, path)
    assert cfg.method and cfg.data


@pytest.mark.parametrize("path", DATA, ids=lambda p: p.name)
def test_data_configs_parse(path):
    from ils.data.config import load_config as load_build

    cfg, _ = load_build(path)
    assert cfg.sources


def test_demo_config_matches_the_demo(tmp_path):
    from ils.demo import demo_config

    shipped = load_config(TrainConfig, CONFIGS / "train_demo.yaml")
    built = demo_config(Path("demo-out"), 100)
    assert shipped.model_dump(exclude={"output"}) == built.model_dump(exclude={"output"})
