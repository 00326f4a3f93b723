import json
import random

import pytest

from fakes import Scripted, seed_file
from ils.errors import DataError, RecordError
from ils.generate import SelfInstructConfig, load_seeds, run
from ils.generate.backends import Failed, GenerationError
from ils.generate.filters import filter_instances, instruction_reason
from ils.generate.prompts import (instance_prompt, instruction_prompt, parse_instances, parse_instructions,
                                  parse_yes_no, sample_context)


def test_parse_numbered_list():
    text = " Write a haiku about autumn.\n10. Translate the sentence into French.\n11) List three fruits.\n12."
    assert parse_instructions(text, 9) == ["Write a haiku about autumn.", "Translate the sentence into French.",
                                           "List three fruits."]
    assert parse_instructions("", 9) == []


def test_prompt_has_six_human_two_machine_and_is_seeded():
    human, machine = [f"h{i}" for i in range(20)], [f"m{i}" for i in range(5)]
    ctx = sample_context(random.Random(1), human, machine)
    assert sum(c.startswith("m") for c in ctx) == 2 and len(ctx) == 8
    assert ctx == sample_context(random.Random(1), human, machine)
    assert len(sample_context(random.Random(1), human, [])) == 8  # all human while the pool is empty
    p = instruction_prompt(ctx)
    assert p.startswith("Come up with a series of tasks:\n1. ") and p.endswith("\n9.")


def test_instances_input_first_and_output_first():
    assert parse_instances(" a\nOutput: b\nInput: <noinput>\nOutput: c\n\nTask: x", False) == [("a", "b"), ("", "c")]
    assert parse_instances(" a\nOutput: b\n\nOutput:\nb again", False) == [("a", "b")]
    assert parse_instances(" pos\nInput: good\nClass label: neg\nInput: bad", True) == [("good", "pos"), ("bad", "neg")]
    assert "Class label:" in instance_prompt("Classify it.", True, [])
    assert parse_yes_no(" Yes.") is True and parse_yes_no("no") is False and parse_yes_no("maybe") is None


@pytest.mark.parametrize("text,reason", [
    ("Hi.", "too short"), ("word " * 200, "too long"), ("Draw a picture of a cat.", "blacklisted word: draw"),
    ("Describe this image in detail please.", "blacklisted word: image"),
    ("Go to the store and buy milk.", "blacklisted word: go to"), (", then sort the list of numbers", "starts with punctuation"),
    ("```python print(1)``` is this right", "not text"), ("ÉCRIS une phrase en français.", "starts with a non-English character"),
    ("Write a program to add two numbers.", "starts with 'write a program'"), ("", "empty"),
    ("Sort the following list of numbers.", None)])
def test_instruction_filters(text, reason):
    assert instruction_reason(text) == reason


def test_instance_filters():
    kept, why = filter_instances([("a", "b"), ("a", "b"), ("c", ""), ("d", "e")])
    assert kept == [("a", "b"), ("d", "e")] and why == ["duplicate input/output pair", "empty output"]
    kept, why = filter_instances([("a", "same"), ("b", "same")])
    assert kept == [] and why == ["same output for every input"]


def test_seed_layouts_and_bad_records(tmp_path):
    seeds, errors = load_seeds(seed_file(tmp_path, bad=True))
    assert len(seeds) == 13 and len(errors) == 3
    assert [e.field for e in errors] == ["json", "instruction", "instances.0.output"]
    assert str(errors[0]).startswith(f"{tmp_path / 'seeds.jsonl'}:14: json")
    alpaca = tmp_path / "alpaca.jsonl"
    alpaca.write_text(json.dumps({"instruction": "Add the numbers.", "input": "1 2", "output": "3"}) + "\n")
    (s,), _ = load_seeds(alpaca)
    assert s.instruction == "Add the numbers." and s.instances == [("1 2", "3")]
    empty = tmp_path / "empty.jsonl"
    empty.write_text("{oops\n")
    with pytest.raises(DataError):
        load_seeds(empty)
    with pytest.raises(RecordError, match="not found"):
        load_seeds(tmp_path / "missing.jsonl")


def _read(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_loop_keeps_filters_and_writes_dataset(tmp_path):
    out = tmp_path / "ds"
    man = run(seed_file(tmp_path), out, SelfInstructConfig(n=10, prompts_per_round=2, seed=3), Scripted())
    kept = _read(out / "work" / "generated.jsonl")
    assert len(kept) >= 10 and man["kept_tasks"] == len(kept)
    reasons = man["dropped"]
    for r in ("blacklisted word: draw", "too short", "near duplicate of the pool", "not text", "no valid instances"):
        assert reasons.get(r), (r, reasons)
    cls = [k for k in kept if k["is_classification"]]
    assert cls and all(k["instances"][0] == {"input": "I love it.", "output": "positive"} for k in cls)
    gen = [k for k in kept if not k["is_classification"]]
    assert all(len(k["instances"]) == 2 and k["instance_drops"] == ["duplicate input/output pair"] for k in gen)
    assert sum(man["splits"].values()) == man["examples"] == sum(len(k["instances"]) for k in kept)
    for f in ("train.jsonl", "validation.jsonl", "test.jsonl", "manifest.json", "report.md",
              "plots/rouge_vs_seeds.png", "plots/verb_object.png"):
        assert (out / f).is_file(), f
    assert ": near duplicate of the pool |" in (out / "report.md").read_text()
    assert man["kind"] == "self-instruct"
    assert all(0 <= k["max_rouge_seed"] <= 1 for k in kept)


def test_resume_continues_without_duplicates(tmp_path):
    seeds, out = seed_file(tmp_path), tmp_path / "ds"
    run(seeds, out, SelfInstructConfig(n=4, prompts_per_round=2), Scripted())
    first = _read(out / "work" / "generated.jsonl")
    with open(out / "work" / "generated.jsonl", "a") as f:
        f.write('{"torn": ')  # a crash in the middle of a write
    run(seeds, out, SelfInstructConfig(n=9, prompts_per_round=2), Scripted())
    both = _read(out / "work" / "generated.jsonl")
    assert both[:len(first)] == first and len(both) >= 9
    texts = [k["instruction"] for k in both]
    assert len(texts) == len(set(texts)) and len({k["id"] for k in both}) == len(both)
    rounds = [r["round"] for r in _read(out / "work" / "rounds.jsonl")]
    assert rounds == list(range(len(rounds)))  # the rerun started at the next round


def test_failed_requests_are_drops_and_total_failure_is_an_error(tmp_path):
    out = tmp_path / "ds"
    man = run(seed_file(tmp_path), out, SelfInstructConfig(n=3, prompts_per_round=2), Scripted(fail_every=5))
    assert man["dropped"].get("endpoint failed after 4 attempts") and man["kept_tasks"] >= 3

    class Down(Scripted):
        def generate(self, prompts, params):
            return [Failed("endpoint failed after 4 attempts: APIConnectionError") for _ in prompts]

    with pytest.raises(GenerationError, match="every request"):
        run(seed_file(tmp_path), out, SelfInstructConfig(n=10, prompts_per_round=2), Down())
    assert len(_read(out / "work" / "generated.jsonl")) == man["kept_tasks"]  # nothing lost


def test_patience_and_round_limits(tmp_path):
    class Useless(Scripted):
        def generate(self, prompts, params):
            return ["" for _ in prompts]

    man = run(seed_file(tmp_path), tmp_path / "ds", SelfInstructConfig(n=5, prompts_per_round=1, patience=3),
              Useless())
    assert man["kept_tasks"] == 0 and len(man["rounds"]) == 3


def test_cli_self_instruct_and_generate_group(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import ils.generate as gen
    from ils.cli import app

    monkeypatch.setattr(gen, "make_backend", lambda spec, batch_size, **kw: Scripted())
    res = CliRunner().invoke(app, ["generate", "self-instruct", "--seeds", str(seed_file(tmp_path)), "--n", "3",
                                   "-o", str(tmp_path / "ds"), "--prompts-per-round", "2"])
    assert res.exit_code == 0, res.output
    assert "kept" in res.output and (tmp_path / "ds" / "manifest.json").is_file()
    res = CliRunner().invoke(app, ["generate", "--help"])
    assert "self-instruct" in res.output and "--prompt" in res.output


def test_evolve_adds_rewritten_tasks(tmp_path):
    from ils.generate.prompts import EVOL, evol_prompt, parse_evolved

    assert all(EVOL[op] in evol_prompt("Sort the list.", op) for op in EVOL)
    assert parse_evolved(" Sort the list twice.\n\nNew task: x") == "Sort the list twice."
    man = run(seed_file(tmp_path), tmp_path / "ds", SelfInstructConfig(n=8, prompts_per_round=2, evolve=1.0),
              Scripted())
    assert any(k.startswith("evolved:") for k in man["by_kind"]), man["by_kind"]


def test_interrupt_writes_what_is_there_and_rerun_continues(tmp_path):
    class Stops(Scripted):
        def generate(self, prompts, params):
            if self.calls >= 12:
                raise KeyboardInterrupt
            return super().generate(prompts, params)

    out = tmp_path / "ds"
    with pytest.raises(KeyboardInterrupt):
        run(seed_file(tmp_path), out, SelfInstructConfig(n=50, prompts_per_round=2), Stops())
    man = json.loads((out / "manifest.json").read_text())
    assert man["interrupted"] and man["kept_tasks"] > 0
    again = run(seed_file(tmp_path), out, SelfInstructConfig(n=man["kept_tasks"] + 2, prompts_per_round=2), Scripted())
    assert again["kept_tasks"] >= man["kept_tasks"] + 2


def test_generated_records_are_scored_by_rouge(tmp_path):
    from ils.evaluate.runner import evaluate
    from ils.records import read_examples

    out = tmp_path / "ds"
    run(seed_file(tmp_path), out, SelfInstructConfig(n=4, prompts_per_round=2, seed=3), Scripted())
    records = read_examples(out / "train.jsonl").examples
    assert records and {r.task for r in records} == {"self-instruct"}

    from ils.infer.protocol import Completion, Engine

    class Echo(Engine):  # answers every prompt with the reference of the first record
        def generate(self, prompts, sampling=None, *, adapter=None, on_text=None, progress=False):
            return [Completion(records[0].response)] * len(prompts)

    report = evaluate(Echo(), records, None, progress=False)
    scores = report["tasks"]["self-instruct"]
    assert scores["metric"] == "rouge" and 0 < scores["score"] <= 1
