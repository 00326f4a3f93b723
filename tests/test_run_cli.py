"""``ils run`` end to end: dry run and a real run on the tiny model; bad input is a clear error or a
clear "no answer found" (exit 0), never a guessed value."""

from __future__ import annotations

import json

import pytest
from prose import prose_pool
from typer.testing import CliRunner

from ils.cli import app
from ils.errors import InputError, PlanError
from ils.infer.protocol import Completion, Engine
from ils.tasks.longinput import make_case


def test_ils_run_dry_run_then_run(tmp_path, tiny_llama):
    case = make_case("passkey", 300, seed=1, pool=prose_pool(tmp_path).share("eval"))
    doc = case.write(tmp_path / "doc.txt")
    base = ["run", case.instruction, "-i", str(doc), "-m", str(tiny_llama), "--plan", "map-reduce",
            "--answer", "value", "-o", str(tmp_path / "out")]
    dry = CliRunner().invoke(app, base + ["--dry-run"])
    assert dry.exit_code == 0, dry.output
    survey = json.loads(dry.stdout)
    assert survey["total_calls"] == survey["chunks"] >= 2 and not (tmp_path / "out" / "cache.jsonl").exists()
    done = CliRunner().invoke(app, base)
    assert done.exit_code == 0, done.output
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["chunks"] == survey["chunks"] and result["calls"] >= result["chunks"]
    assert result["found"] == (result["answer"] is not None) and (result["reason"] is None) == result["found"]
    assert set(result["maps"]["map"]) == {"chunks", "none", "unparsed", "grounded", "ungrounded"}


def test_ils_run_refuses_binary_and_empty_input(tmp_path, tiny_llama):
    (tmp_path / "x.bin").write_bytes(bytes(range(256)) * 4)
    res = CliRunner().invoke(app, ["run", "x", "-i", str(tmp_path / "x.bin"), "-m", str(tiny_llama)])
    assert isinstance(res.exception, InputError) and "binary" in str(res.exception)
    (tmp_path / "empty.txt").write_bytes(b"")
    res = CliRunner().invoke(app, ["run", "x", "-i", str(tmp_path / "empty.txt"), "-m", str(tiny_llama)])
    assert isinstance(res.exception, InputError) and "empty" in str(res.exception)


@pytest.mark.parametrize("args,message", [
    (["--answer", "number", "--ground"], "--ground: step 'map' answers 'number', which cannot be grounded"),
    (["--answer", "text", "--ground"], "cannot be grounded"),
    (["--answer", "sentence"], "unknown answer kind 'sentence'"),
])
def test_an_answer_kind_that_cannot_be_grounded_is_a_clear_error(tmp_path, tiny_llama, args, message):
    (tmp_path / "doc.txt").write_text("Some text with 12 apples.")
    res = CliRunner().invoke(app, ["run", "How many?", "-i", str(tmp_path / "doc.txt"), "-m", str(tiny_llama),
                                   "--plan", "map-reduce", *args])
    assert isinstance(res.exception, PlanError) and message in str(res.exception)


class Guesser(Engine):
    """Answers every chunk with a value that is nowhere in it, the way a small model invents one."""

    context = 512

    def count_tokens(self, prompt):
        return sum(len(m["content"].split()) for m in prompt) + 4 if not isinstance(prompt, str) else len(prompt.split())

    def generate(self, prompts, sampling=None, **kw):
        return [Completion("The pass key is 1.") for _ in prompts]


def test_no_grounded_answer_prints_no_answer_found_and_exits_zero(tmp_path, monkeypatch):
    from ils.infer import longrun

    monkeypatch.setattr(longrun, "load_engines", lambda models, *a: {"default": Guesser()})
    monkeypatch.setattr(longrun, "check_models", lambda models: None)
    doc = make_case("passkey", 2000, seed=2, pool=prose_pool(tmp_path).share("eval")).write(tmp_path / "doc.txt")
    res = CliRunner().invoke(app, ["run", "What is the pass key?", "-i", str(doc), "--plan", "map-reduce",
                                   "--answer", "value", "--chunk-tokens", "200", "-o", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == "no answer found"
    assert "none of the" in res.stderr and "--no-ground" in res.stderr
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["answer"] is None and not result["found"] and "occurs in its chunk" in result["reason"]
    assert len(result["ungrounded"]) == result["chunks"] and result["ungrounded"][0]["answer"] == "1"
    assert (tmp_path / "out" / "answer.txt").read_text().strip() == "no answer found"
