"""Records: every layout × format round-trips; bad records give file:line: field: reason."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ils.cli import app
from ils.errors import DataError, RecordError
from ils.records import LAYOUTS, Example, Message, read_examples, write_examples

FORMATS = ("jsonl", "json", "csv", "parquet")


def _examples() -> list[Example]:
    single = Example.from_alpaca("Add the numbers.", "2 3", "5", task="add", answer="5", id="a1",
                                 meta={"k": [1, 2]})
    multi = Example(messages=(Message(role="system", content="Be brief."), Message(role="user", content="hi"),
                              Message(role="assistant", content="hello"), Message(role="user", content="2+2?"),
                              Message(role="assistant", content="4")), answer={"x": 4}, task="chat")
    return [single, multi]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_round_trip(tmp_path, layout, fmt):
    examples = _examples()[:1] if layout == "alpaca" else _examples()
    path = write_examples(tmp_path / f"x.{fmt}", examples, layout)
    back = [ex.model_copy(update={"source": None}) for ex in read_examples(path).examples]
    assert back == examples


def test_layout_is_detected_per_record(tmp_path):
    rows = [{"instruction": "a", "output": "b"},
            {"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}]},
            {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}]
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    examples = read_examples(path).examples
    assert [ex.response for ex in examples] == ["b", "b", "b"]
    assert examples[0].source == "mixed.jsonl:1"


BAD = [
    ('{"instruction": "x", "output": ""}', "output: empty"),
    ('{"instruction": "x"}', "output: missing or not text"),
    ("{not json", "json: not valid JSON"),
    ('{"messages": [{"role": "user", "content": "a"}]}', "messages: the last turn must be the assistant's answer"),
    ('{"conversations": [{"from": "alien", "value": "a"}]}', "conversations.from: unknown speaker 'alien'"),
    ('{"messages": [{"role": "robot", "content": "a"}, {"role": "assistant", "content": "b"}]}', "messages.0.role"),
    ('{"text": "hello"}', "record: no 'messages', 'conversations' or 'instruction'/'output' field"),
    ('[1, 2]', "record: not an object"),
]


def test_bad_records_name_file_line_field(tmp_path):
    good = '{"instruction": "fine", "output": "ok"}'
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([good] + [line for line, _ in BAD]) + "\n")
    with pytest.raises(DataError) as info:
        read_examples(path)
    lines = str(info.value).splitlines()
    assert len(lines) == len(BAD)
    for n, (line, (_, expected)) in enumerate(zip(lines, BAD), start=2):
        assert line.startswith(f"{path}:{n}: "), line
        assert expected in line, (line, expected)


def test_skip_invalid_keeps_good_and_counts_reasons(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"instruction": "a", "output": "b"}\n{"instruction": "x", "output": ""}\n'
                    '{"instruction": "y", "output": ""}\n')
    result = read_examples(path, skip_invalid=True)
    assert len(result.examples) == 1
    assert result.drop_counts() == {"output: empty": 2}


def test_csv_missing_column_and_bad_json_cell(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text('instruction,output,answer\n"a","b","{bad"\n"c","d","1"\n')
    result = read_examples(path, skip_invalid=True)
    assert [str(e) for e in result.errors] == [f"{path}:2: answer: not valid JSON (Expecting property name "
                                               "enclosed in double quotes at column 2)"]
    assert result.examples[0].answer == 1


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "out.jsonl"
    write_examples(path, _examples())
    before = path.read_text()


    with pytest.raises(RecordError, match="no Alpaca form"):
        write_examples(path, _examples(), layout="alpaca")  # the multi-turn record has no Alpaca form
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_cli_validate_and_convert(tmp_path):
    runner = CliRunner()
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    write_examples(good, _examples())
    bad.write_text('{"instruction": "x", "output": ""}\n')
    assert runner.invoke(app, ["data", "validate", str(good)]).exit_code == 0
    result = runner.invoke(app, ["data", "validate", str(good), str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:1: output: empty" in result.output
    dest = tmp_path / "out.parquet"
    result = runner.invoke(app, ["data", "convert", str(good), str(dest), "--to", "sharegpt"])
    assert result.exit_code == 0, result.output
    assert len(read_examples(dest).examples) == 2
