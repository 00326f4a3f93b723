"""ils export --merged: every method that can merge gives a plain transformers folder whose logits equal
the adapter on the base; the others are refused by name and reason; bad input leaves nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from ils.cli import app
from ils.config import LoraOptions, TrainConfig
from ils.export import ExportError, export
from ils.train.loop import train

IDS = torch.tensor([[5, 6, 7, 8, 9, 10, 11, 12]])
MERGEABLE = [("lora", {}), ("dora", {}), ("adalora", {"init_r": 4, "target_r": 2}), ("ia3", {}),
             ("full", {}), ("freeze", {"top_k": 1})]
REFUSED = [("prefix", {"num_virtual_tokens": 2}, "key/value prefixes"),
           ("prompt", {"num_virtual_tokens": 2}, "soft-prompt embeddings"),
           ("adapter", {"size": 4}, "bottleneck adapters add new layers")]


def make_run(model: Path, data: Path, out: Path, method: str, options: dict | None = None, steps: int = 3,
             lr: float = 5e-2) -> Path:
    return train(TrainConfig(model=str(model), data=str(data), output=str(out), method=method,
                             method_options=options or {}, max_steps=steps, batch_size=4, lr=lr,
                             warmup_steps=0, eval_every=0, save_every=0, bf16=False,
                             lora=LoraOptions(r=4, alpha=8, dropout=0.0)))


def logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(input_ids=IDS).logits.float()


@pytest.mark.parametrize("method,options", MERGEABLE, ids=[m for m, _ in MERGEABLE])
def test_merged_folder_matches_the_adapter_on_its_base(method, options, tiny_llama, toy_data, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ils.models.loading import load_run

    run = make_run(tiny_llama, toy_data, tmp_path / "run", method, options)
    done = export(run, tmp_path / "merged")
    assert done["dtype"] == "float32" and done["method"] == method  # the tiny base is fp32
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged")  # plain transformers, no PEFT
    reference, _, _ = load_run(run)  # the run as ILS loads it: adapter on base, not merged
    assert torch.allclose(logits(merged), logits(reference), atol=1e-4)
    base = AutoModelForCausalLM.from_pretrained(tiny_llama)
    assert not torch.allclose(logits(merged), logits(base), atol=1e-3)  # the training is in there
    tok = AutoTokenizer.from_pretrained(tmp_path / "merged")
    assert "<|im_start|>" in tok.chat_template and tok.eos_token == "<|im_end|>"


def test_merged_keeps_the_base_dtype_unless_told(tiny_llama, toy_data, tmp_path):
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM

    base16 = tmp_path / "base-bf16"
    AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=torch.bfloat16).save_pretrained(base16)
    for f in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        if (tiny_llama / f).is_file():
            (base16 / f).write_bytes((tiny_llama / f).read_bytes())
    run = make_run(base16, toy_data, tmp_path / "run", "lora")

    def stored(folder: Path) -> dict:
        with safe_open(str(folder / "model.safetensors"), "pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}

    assert export(run, tmp_path / "m16")["dtype"] == "bfloat16"
    assert {t.dtype for t in stored(tmp_path / "m16").values()} == {torch.bfloat16}
    assert json.loads((tmp_path / "m16" / "config.json").read_text())["dtype"] == "bfloat16"
    assert export(run, tmp_path / "m32", dtype="fp32")["dtype"] == "float32"
    m16, m32 = stored(tmp_path / "m16"), stored(tmp_path / "m32")
    assert {t.dtype for t in m32.values()} == {torch.float32} and set(m16) == set(m32)
    for k in m16:  # the same merge, rounded to bf16 (8 significant bits): within one bf16 step
        assert torch.allclose(m16[k].float(), m32[k], rtol=2 ** -7, atol=1e-6), k


@pytest.mark.parametrize("method,options,reason", REFUSED, ids=[m for m, _, _ in REFUSED])
def test_methods_that_cannot_merge_are_refused_by_name(method, options, reason, tiny_llama, toy_data,
                                                       tmp_path):
    run = make_run(tiny_llama, toy_data, tmp_path / "run", method, options, steps=1)
    with pytest.raises(ExportError, match=f"method '{method}' cannot be merged.*{reason}"):
        export(run, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_bad_input_is_a_short_error_and_writes_nothing(tiny_llama, toy_data, tmp_path):
    with pytest.raises(ExportError, match="no such run folder"):
        export(tmp_path / "missing", tmp_path / "out")
    with pytest.raises(ExportError, match="not a run folder"):
        export(tiny_llama, tmp_path / "out")
    run = make_run(tiny_llama, toy_data, tmp_path / "run", "lora", steps=1)
    with pytest.raises(ExportError, match="--dtype 'fp8'"):
        export(run, tmp_path / "out", dtype="fp8")
    (tmp_path / "taken").mkdir()
    with pytest.raises(ExportError, match="exists; remove it or pass --force"):
        export(run, tmp_path / "taken")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "taken", "toy"]
    export(run, tmp_path / "taken", force=True)
    assert (tmp_path / "taken" / "config.json").is_file()


def test_cli_export_prints_what_it_wrote_and_errors_without_traceback(tiny_llama, toy_data, tmp_path):
    run = make_run(tiny_llama, toy_data, tmp_path / "run", "lora", steps=1)
    result = CliRunner().invoke(app, ["export", str(run), "-o", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    assert "merged, float32" in result.output and "method lora" in result.output
    result = CliRunner().invoke(app, ["export", str(tmp_path / "nope"), "-o", str(tmp_path / "x")])
    assert result.exit_code != 0 and isinstance(result.exception, ExportError)
    result = CliRunner().invoke(app, ["export", str(run), "-o", str(tmp_path / "y"), "--merged", "--gguf"])
    assert "pick one" in str(result.exception)


def test_an_encoder_head_run_is_refused_naming_its_head_kind(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "ils.json").write_text(json.dumps({"method": "full", "base_model": "default-encoder",
                                              "head": {"kind": "token", "labels": ["O", "B-PER"]}}))
    with pytest.raises(ExportError, match=r"method 'full' trained an encoder head \(kind token\)"):
        export(run, tmp_path / "out")
    assert not (tmp_path / "out").exists()
