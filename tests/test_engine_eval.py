"""The engine batches without changing greedy results; evaluation parses and scores per task."""

from __future__ import annotations

import json

import pytest

from ils.evaluate.runner import evaluate
from ils.infer.engine import Engine, LocalEngine, Sampling
from ils.infer.protocol import Completion
from ils.records import Example

from conftest import toy_examples


@pytest.fixture(scope="module")
def engine(tiny_llama):
    return Engine.load(str(tiny_llama), batch_size=4)


def test_batched_greedy_equals_one_by_one(engine):
    chats = [[{"role": "user", "content": "Add " + "3 " * k}] for k in range(1, 7)]
    batched = engine.chat(chats, Sampling(max_new_tokens=8))
    one = LocalEngine(engine.model, engine.tok, batch_size=1)
    single = [one.chat([c], Sampling(max_new_tokens=8))[0] for c in chats]
    one.close()
    assert batched == single


def test_sampling_is_seeded(engine):
    chats = [[{"role": "user", "content": "hello"}]] * 3
    a = engine.chat(chats, Sampling(max_new_tokens=8, temperature=1.0, seed=3))
    b = engine.chat(chats, Sampling(max_new_tokens=8, temperature=1.0, seed=3))
    assert a == b


def test_stop_strings_cut_the_output(engine):
    text = engine.chat([[{"role": "user", "content": "hello"}]], Sampling(max_new_tokens=12))[0]
    assert len(text) > 2, text  # the tiny model's greedy answer is long enough to cut
    stop = text[2]
    cut = engine.chat([[{"role": "user", "content": "hello"}]], Sampling(max_new_tokens=12, stop=(stop,)))[0]
    assert cut == text[: text.index(stop)] and len(cut) < len(text)


def test_bfloat16_engine_generates_and_names_its_dtype(tiny_llama, engine):
    import torch

    from ils.errors import ILSError

    half = Engine.load(str(tiny_llama), batch_size=4, dtype="bfloat16")
    assert next(half.model.parameters()).dtype == torch.bfloat16
    assert half.identity == engine.identity + "|bfloat16"  # cached outputs never mix dtypes
    assert isinstance(half.chat([[{"role": "user", "content": "hello"}]], Sampling(max_new_tokens=4))[0], str)
    with pytest.raises(ILSError, match="'fp8'"):
        Engine.load(str(tiny_llama), dtype="fp8")


class ScriptedEngine(Engine):
    """Answers from a table, so scoring can be checked exactly."""

    def __init__(self, answers: dict[str, str]):
        self.answers = answers

    def generate(self, prompts, sampling=None, *, adapter=None, on_text=None, progress=False):
        return [Completion(self.answers[c[-1]["content"]]) for c in prompts]


def test_evaluate_scores_per_task_with_the_task_parser(tmp_path):
    add = [Example.from_alpaca(f"Add {i} and 1.", "", str(i + 1), task="add", answer=str(i + 1)) for i in range(4)]
    plain = toy_examples(2)
    answers = {add[0].instruction: "1.", add[1].instruction: " 2 ", add[2].instruction: "The answer is 3.",
               add[3].instruction: "5", plain[0].instruction: plain[0].response, plain[1].instruction: "nope"}
    report = evaluate(ScriptedEngine(answers), add + plain, tmp_path, progress=False)
    assert report["tasks"]["add"]["exact_match"] == 0.5  # "1." and " 2 " parse; verbosity does not
    assert report["tasks"]["toy_add"]["exact_match"] == 0.5
    assert report["overall"]["correct"] == 3
    rows = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert [r["correct"] for r in rows] == [True, True, False, False, True, False]
    assert json.loads((tmp_path / "report.json").read_text())["n"] == 6


def test_weights_identity_changes_when_a_run_is_trained_again(tmp_path):
    import os

    from ils.infer.engine import weights_identity

    run = tmp_path / "run"
    (run / "adapter").mkdir(parents=True)
    (run / "ils.json").write_text("{}")
    weights = run / "adapter" / "adapter_model.safetensors"
    weights.write_bytes(b"x" * 10)
    first = weights_identity(str(run), {})
    assert first == weights_identity(str(run), {}) and "adapter_model.safetensors" in first
    os.utime(weights, ns=(1, 1))
    assert weights_identity(str(run), {}) != first
