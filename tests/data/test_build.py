"""``build_dataset`` end to end on tiny data: the folder, the manifest, and every kind of bad input."""

import json

import pytest

from ils.data.build import build_dataset
from ils.errors import ConfigError, DataError, RecordError
from ils.records import read_examples
from ils.tasks import TASKS

REVIEWS = ["a gripping , beautifully shot film", "dull and far too long", "the best thing all year",
           "a mess from start to finish", "warm , funny and wise", "the plot makes no sense at all",
           "an instant classic with a great cast", "boring characters and a lazy script",
           "i laughed , i cried , i loved it", "flat jokes and a tired story", "a joy to watch",
           "painfully slow and dreary", "smart , tender and true", "nothing works here"]


@pytest.fixture
def sst(tmp_path):
    p = tmp_path / "sst.tsv"
    rows = [f"{t} \t{i % 2}" for i, t in enumerate(REVIEWS)]
    near = f"{REVIEWS[1]} , truly \t{rows[1][-1]}"
    p.write_text("sentence\tlabel\n" + "\n".join(rows + [rows[0], near]) + "\n")
    return p


def config(path, **kw):
    return {"sources": [{"task": "sentiment", "path": str(path)}], "seed": 1, **kw}


def test_build_writes_splits_manifest_and_report(tmp_path, sst):
    ev = tmp_path / "ev.tsv"
    ev.write_text("sentence\tlabel\nnothing works here \t0\n")
    out = build_dataset(config(sst, eval_sets=[{"task": "sentiment", "path": str(ev)}],
                               heldout_templates={"sentiment": ["label"]},
                               splits={"train": 0.6, "validation": 0.2, "test": 0.2}),
                        tmp_path / "ds", progress=False)
    man = json.loads((out / "manifest.json").read_text())
    splits = {s: read_examples(out / f"{s}.jsonl").examples for s in ("train", "validation", "test")}
    assert {s: len(v) for s, v in splits.items()} == man["splits"]
    kinds = {d["kind"] for d in man["drops"]}
    assert {"exact duplicate", "near duplicate", "overlaps an evaluation set"} <= kinds
    assert all(ex.template == "label" for ex in splits["test"])
    assert not any(ex.template == "label" for ex in splits["train"] + splits["validation"])
    assert {ex.answer for ex in splits["test"]} == {"negative", "positive"}  # stratified
    assert "## Drops" in (out / "report.md").read_text()
    assert set(man["files"]) == {"train.jsonl", "validation.jsonl", "test.jsonl"}


def test_same_seed_same_dataset(tmp_path, sst):
    a = build_dataset(config(sst), tmp_path / "a", progress=False)
    b = build_dataset(config(sst), tmp_path / "b", progress=False)
    assert (a / "train.jsonl").read_text() == (b / "train.jsonl").read_text()


def test_groups_never_straddle_splits(tmp_path):
    conll = tmp_path / "c.txt"
    docs = [f"-DOCSTART- -X- -X- O\n\nW{d} NNP B-NP B-PER\nsaid VBD B-VP O\n\nIt PRP B-NP O\nx{d} NN I-NP O\n"
            for d in range(12)]
    conll.write_text("".join(docs))
    out = build_dataset({"sources": [{"task": "ner", "path": str(conll)}]}, tmp_path / "ds", progress=False)
    where = {}
    for s in ("train", "validation", "test"):
        for ex in read_examples(out / f"{s}.jsonl").examples:
            assert where.setdefault(ex.meta["group"], s) == s


def test_weights_scale_train_only(tmp_path, sst):
    out = build_dataset({**config(sst), "sources": [{"task": "sentiment", "path": str(sst), "weight": 2}],
                         "dedup": {"near": False}}, tmp_path / "ds", progress=False)
    man = json.loads((out / "manifest.json").read_text())
    mix = next(s for s in man["stages"] if s["stage"] == "mix (train)")
    assert mix["out"] == 2 * mix["in"] == 2 * man["stages"][-2]["train"]


BAD = {
    "conll_columns": ("ner", "c.txt", "Hi NNP B-NP O\n\nEU NNP B-NP B-ORG\nrejects VBZ O\n",
                      "c.txt:4: columns: expected 4"),
    "squad_offset": ("qa", "q.json", json.dumps({"data": [{"title": "t", "paragraphs": [{"context": "abc def",
                     "qas": [{"id": "x", "question": "q?", "answers": [{"text": "def", "answer_start": 0}]},
                             {"id": "y", "question": "q2?",
                              "answers": [{"text": "abc", "answer_start": 0}]}]}]}]}),
                     "answers[0]: text 'def' is not at offset 0"),
    "unknown_label": ("sentiment", "s.tsv", "sentence\tlabel\nok\t1\nbad\t5\n",
                      "s.tsv:3: label: unknown label '5'"),
    "empty_output": ("summarization", "s.jsonl", '{"document": "text", "summary": "ok"}\n'
                     '{"document": "text two", "summary": "\\u200b"}\n',
                     "s.jsonl:2: messages: the answer is empty"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_names_file_line_field_and_leaves_no_folder(tmp_path, case):
    task, name, text, message = BAD[case]
    (tmp_path / name).write_text(text)
    out = tmp_path / "ds"
    with pytest.raises(DataError) as e:
        build_dataset({"sources": [{"task": task, "path": str(tmp_path / name)}]}, out, progress=False)
    assert message in str(e.value)
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == [name]


@pytest.mark.parametrize("case", sorted(BAD))
def test_skip_invalid_drops_with_reason(tmp_path, case):
    task, name, text, message = BAD[case]
    (tmp_path / name).write_text(text)
    src = {"task": task, "path": str(tmp_path / name)}
    out = build_dataset({"sources": [src]}, tmp_path / "ds", skip_invalid=True, progress=False)
    drops = json.loads((out / "manifest.json").read_text())["drops"]
    assert any(message.split(": ", 1)[-1] in f"{d['source']}: {d['reason']}" for d in drops), drops


def test_skip_invalid_with_nothing_valid_still_fails(tmp_path):
    (tmp_path / "s.tsv").write_text("sentence\tlabel\nbad\t5\n")
    with pytest.raises(DataError, match="unknown label"):
        build_dataset({"sources": [{"task": "sentiment", "path": str(tmp_path / "s.tsv")}]}, tmp_path / "ds",
                      skip_invalid=True, progress=False)
    assert not (tmp_path / "ds").exists()


def test_missing_csv_column_is_reported(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("sentence,score\nok,1\n")
    with pytest.raises(RecordError, match=r"s.csv:1: label: no such column \(the header has: sentence, score\); map your column with "
                       r"`label_column:`"):
        build_dataset({"sources": [{"task": "sentiment", "path": str(p)}]}, tmp_path / "ds", progress=False)
    assert not (tmp_path / "ds").exists()


def test_unknown_task_points_at_config_line(tmp_path, sst):
    cfg = tmp_path / "build.yaml"
    cfg.write_text(f"seed: 0\nsources:\n  - path: {sst}\n    task: sentimnt\n")
    with pytest.raises(ConfigError, match=r"build.yaml:4: sources.0.task: unknown task 'sentimnt'; known"):
        build_dataset(cfg, tmp_path / "ds", progress=False)


def test_user_yaml_task_and_missing_template_field(tmp_path):
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "topic.yaml").write_text(
        "name: topic_user\nbase: classification\nlabels: [sports, business]\n"
        "options: {text_column: headline, label_column: topic}\ntemplates:\n"
        "  - {name: q, style: question, input: 'Topic of: {{ text }}?', target: '{{ label }}'}\n"
        "  - {name: bad, style: command, input: 'Genre {{ genre }}: {{ text }}', target: '{{ label }}'}\n")
    data = tmp_path / "t.csv"
    data.write_text("headline,topic\nteam wins cup,sports\nstocks fall,business\n")
    src = {"task": "topic_user", "path": str(data), "templates": ["q"]}
    base = {"task_dirs": [str(tasks)], "sources": [src]}
    try:
        out = build_dataset(base, tmp_path / "ds", progress=False)
        assert (out / "manifest.json").exists()
        base["sources"][0]["templates"] = ["bad"]
        with pytest.raises(DataError, match=r"t.csv:2: genre: template 'bad' references field 'genre'"):
            build_dataset(base, tmp_path / "ds2", progress=False)
    finally:
        TASKS.remove("topic_user")
