"""Procedural tasks: determinism, registration, self-consistent answers, strict parsing, dataset folders."""

from __future__ import annotations

import json
import random

import pytest

from ils.errors import ConfigError
from ils.io import sha256_file
from ils.records import load_examples
from ils.tasks import TASKS, get_task
from ils.tasks.procedural import build_dataset, generate, normalize, procedural_tasks

PROCEDURAL = procedural_tasks()
NAMES = sorted(PROCEDURAL)


def test_at_least_ten_tasks_registered_with_three_phrasings():
    assert len(NAMES) >= 10
    for name in NAMES:
        task = get_task(name)
        assert task is PROCEDURAL[name] and name in TASKS.names()
        assert task.name == name and task.metric == "exact_match"
        assert len(task.templates) >= 3


def test_same_seed_same_examples_other_seed_other_examples():
    a, b = generate(None, 5, seed=1), generate(None, 5, seed=1)
    assert [x.model_dump() for x in a] == [x.model_dump() for x in b]
    c = generate(None, 5, seed=2)
    assert [x.instruction for x in a] != [x.instruction for x in c]


def test_a_task_draws_the_same_examples_whatever_else_is_asked():
    alone = generate(["add"], 4, seed=3)
    mixed = [ex for ex in generate(["sort_numbers", "add"], 4, seed=3) if ex.task == "add"]
    assert [x.model_dump() for x in alone] == [x.model_dump() for x in mixed]


def test_example_fields():
    for ex in generate(None, 3, seed=0):
        assert ex.template.startswith(ex.task + "/")
        assert ex.source == f"procedural:{ex.task}:seed=0"
        assert ex.id.startswith(ex.task) and ex.answer is not None
    ids = [ex.id for ex in generate(None, 20, seed=0)]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("name", NAMES)
def test_gold_output_parses_to_gold_answer(name):
    task, rng = get_task(name), random.Random(name)
    for _ in range(200):
        ex = task.sample(rng)
        assert task.check(ex.response, ex.answer), (ex.instruction, ex.response, ex.answer)
        json.dumps(ex.answer)  # JSON-able


@pytest.mark.parametrize("name", NAMES)
def test_prompts_and_answers_stay_short(name):
    task, rng = get_task(name), random.Random(0)
    for _ in range(50):
        ex = task.sample(rng)
        assert len(ex.instruction.split()) <= 30 and len(ex.response) <= 60


@pytest.mark.parametrize("text, expected", [
    ("42", "42"), ("  42\n", "42"), ("42.", "42"), ('"42"', "42"), ("`42`", "42"), ("'42.'", "42"),
    ('"42".', "42"), ("The answer is 42.", "The answer is 42"),
    ("42\n\nExplanation: ...", "42\n\nExplanation: ..."),
    ("...", "..."),
])
def test_normalize_forgives_surface_noise_only(text, expected):
    assert normalize(text) == expected


def test_parse_is_strict_but_fair():
    add = get_task("add")
    assert add.check(" 95. ", "95") and add.check("`95`", "95")
    assert not add.check("The answer is 95.", "95") and not add.check("95 (sum)", "95")
    assert not add.check("95\nbecause 37 + 58 = 95", "95")
    assert get_task("sort_numbers").check("3,17 , 42", "3, 17, 42")
    assert not get_task("sort_numbers").check("[3, 17, 42]", "3, 17, 42")
    assert not get_task("uppercase").check("Green House", "GREEN HOUSE")
    kv = get_task("kv_to_json")
    assert kv.check('{"age":36, "name": "Ada"}', {"name": "Ada", "age": 36})
    assert not kv.check('{"name": "Ada", "age": "36"}', {"name": "Ada", "age": 36})
    assert kv.parse("name=Ada") is None


def test_build_dataset_writes_disjoint_splits_and_manifest(tmp_path):
    out = build_dataset(tmp_path / "proc", ["add", "multiply", "uppercase"], n=60, seed=7)
    files = {s: out / f"{s}.jsonl" for s in ("train", "validation", "test")}
    splits = {s: load_examples(p) for s, p in files.items()}
    prompts = {s: {ex.instruction for ex in exs} for s, exs in splits.items()}
    assert not (prompts["train"] & prompts["validation"] or prompts["train"] & prompts["test"]
                or prompts["validation"] & prompts["test"])
    man = json.loads((out / "manifest.json").read_text())
    assert man["seed"] == 7 and man["tasks"] == ["add", "multiply", "uppercase"] and man["n"] == 60
    assert man["kind"] == "procedural" and man["generated"] == 180 and man["kept"] == 180 - len(man["drops"])
    assert sum(man["splits"][s] for s in files) == man["kept"]
    for s, exs in splits.items():
        assert man["splits"][s] == len(exs)
        assert sum(v.get(s, 0) for v in man["per_task"].values()) == len(exs)
        assert sum(v.get(s, 0) for v in man["per_template"].values()) == len(exs)
    assert set(man["per_task"]) == {"add", "multiply", "uppercase"}
    assert man["files"] == {p.name: sha256_file(p) for p in files.values()}
    assert "## Templates" in (out / "report.md").read_text()
    assert '"messages"' in files["train"].read_text().splitlines()[0]


def test_split_is_stratified_and_roughly_80_10_10(tmp_path):
    man = json.loads((build_dataset(tmp_path / "d", ["extract_number"], n=100, seed=0) / "manifest.json")
                     .read_text())
    counts = [man["splits"][s] for s in ("train", "validation", "test")]
    assert counts == [80, 10, 10]


def test_duplicate_prompts_are_dropped_and_reported(tmp_path):
    # multiply has 11 * 24 * 3 distinct prompts, so 1500 draws must repeat some
    man = json.loads((build_dataset(tmp_path / "d", ["multiply"], n=1500, seed=0) / "manifest.json")
                     .read_text())
    assert man["drops"] and all("duplicate prompt of" in d["reason"] for d in man["drops"])
    assert man["kept"] <= 11 * 24 * 3


def test_build_dataset_is_deterministic(tmp_path):
    a = build_dataset(tmp_path / "a", ["first_last", "count_letter"], n=30, seed=5)
    b = build_dataset(tmp_path / "b", ["first_last", "count_letter"], n=30, seed=5)
    for name in ("train.jsonl", "validation.jsonl", "test.jsonl", "manifest.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_unknown_task_raises_and_leaves_no_folder(tmp_path):
    out = tmp_path / "proc"
    with pytest.raises(ConfigError, match="known:.*add"):
        build_dataset(out, ["add", "no_such_task"], n=5, seed=0)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_failure_while_writing_leaves_no_partial_folder(tmp_path, monkeypatch):
    import ils.dataset

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ils.dataset, "write_json", boom)
    with pytest.raises(RuntimeError):
        build_dataset(tmp_path / "proc", ["add"], n=5, seed=0)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kwargs", [{"n": 0}, {"splits": (0.5, 0.5, 0.5)}, {"tasks": []}])
def test_bad_arguments_raise_config_error(tmp_path, kwargs):
    with pytest.raises(ConfigError):
        build_dataset(tmp_path / "proc", **{"tasks": ["add"], "n": 5, "seed": 0, **kwargs})
    assert not (tmp_path / "proc").exists()
