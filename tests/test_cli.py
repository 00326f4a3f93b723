"""End-to-end CLI runs on the tiny model: train with overrides, resume, generate, chat, eval."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from ils.cli import app

runner = CliRunner()


def _ok(args: list[str], **kw) -> str:
    result = runner.invoke(app, args, **kw)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_train_generate_chat_eval(tiny_llama, toy_data, tmp_path):
    cfg = tmp_path / "c.yaml"
    run = tmp_path / "run"
    cfg.write_text(f"model: {tiny_llama}\ndata: {toy_data}\noutput: {run}\nbf16: false\nmax_steps: 2\n"
                   f"eval: {{test: {toy_data}, max_new_tokens: 4}}\n")
    out = _ok(["train", str(cfg), "--lr", "1e-3", "--lora.r", "4", "--save_every", "1"])
    assert "evaluation" in out and str(run) in out and "zero-shot" in out
    assert json.loads((run / "ils.json").read_text())["status"] == "done"
    assert "lr: 0.001" in (run / "config.yaml").read_text()
    out = _ok(["generate", "-m", str(run), "-p", "Add 1 and 2.", "--max-new-tokens", "3"])
    assert json.loads(out.strip().splitlines()[-1])["prompt"] == "Add 1 and 2."
    out = _ok(["chat", "-m", str(run), "--max-new-tokens", "3"], input="hello\n\n")
    assert "ils>" in out
    out = _ok(["eval", str(toy_data), "-m", str(tiny_llama), "--compare", f"zero-shot,{run}", "--plain",
               "-o", str(tmp_path / "ev"), "--max-new-tokens", "3"])
    assert "toy_add" in out and (tmp_path / "ev" / "report.json").is_file()


def test_errors_are_short_and_name_the_problem(tmp_path):
    result = runner.invoke(app, ["train", "--data", "x.jsonl", "--model", "org/hub-model",
                                 "--output", str(tmp_path / "r")])
    assert result.exit_code != 0
    assert "never downloads from a model hub" in str(result.exception)
    assert not (tmp_path / "r").exists()


def test_an_option_without_its_value_is_refused_before_anything_is_created(tiny_llama, toy_data, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"model: {tiny_llama}\ndata: {toy_data}\noutput: {tmp_path / 'run'}\n")
    result = runner.invoke(app, ["train", str(cfg), "--lr"])
    assert result.exit_code != 0 and "--lr: needs a value" in str(result.exception)
    assert not (tmp_path / "run").exists()
