"""Malformed data files, configs and options, fed to the ``ils`` command as a user would: each must end
with exit status 2 and a message that names the file:line:field or the option, never a traceback, and
leave no output (and no temp folder) behind."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import ils

GOOD = json.dumps({"instruction": "Say hi.", "output": "hi"}) + "\n"
TURNS = (("user", "a"), ("assistant", "b"), ("user", "c"), ("assistant", "d"))
MULTI = json.dumps({"messages": [{"role": r, "content": c} for r, c in TURNS]}) + "\n"
LATIN1 = '{"instruction": "Caf\xe9?", "output": "oui"}\n'.encode("latin-1")
DEEP = "[" * 5000 + "]" * 5000
TRAIN = "data: {data}\nmodel: {model}\noutput: {out}\n"
TRAIN_C = ["train", "{tmp}/c.yaml"]
BUILD_B = ["data", "build", "{tmp}/b.yaml", "-o", "{tmp}/out"]
CONVERT = ["data", "convert", "{tmp}/in.jsonl", "{tmp}/out.jsonl"]
ALIAS_BOMB = "data: x\nmethod_options:\n  a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
    f"  {c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdef", "bcdefg"))


def _parquet_with_nan(path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"instruction": ["a"], "output": ["b"], "answer": [float("nan")]}), path)


# name: (files {name: text or bytes, or a function of the path}, args (with {tmp}), expected fragments)
CASES = {
    # ---- data files: validate (whole-file problems) and convert (any bad record stops it)
    "latin-1 jsonl": ({"in.jsonl": LATIN1}, ["data", "validate", "{tmp}/in.jsonl"],
                      ["in.jsonl:1: file: not UTF-8 text (byte 0xe9 at column 21)"]),
    "latin-1 csv": ({"in.csv": "instruction,output\nCaf\xe9,oui\n".encode("latin-1")},
                    ["data", "validate", "{tmp}/in.csv"], ["in.csv:2: file: not UTF-8 text"]),
    "latin-1 json": ({"in.json": b'[{"instruction": "\xe9", "output": "x"}]'},
                     ["data", "validate", "{tmp}/in.json"], ["in.json:1: file: not UTF-8 text"]),
    "binary jsonl": ({"in.jsonl": bytes(range(256)) * 8}, ["data", "validate", "{tmp}/in.jsonl"],
                     ["in.jsonl: file: binary data"]),
    "binary csv": ({"in.csv": b"a,b\n\x00\x01\x02,\x03\n"}, ["data", "validate", "{tmp}/in.csv"],
                   ["in.csv: file: binary data"]),
    "text named .parquet": ({"in.parquet": "not parquet\n"}, ["data", "validate", "{tmp}/in.parquet"],
                            ["in.parquet: file: not a readable Parquet file"]),
    "empty .parquet": ({"in.parquet": b""}, ["data", "validate", "{tmp}/in.parquet"],
                       ["in.parquet: file: not a readable Parquet file"]),
    "deep json": ({"in.json": DEEP}, ["data", "convert", "{tmp}/in.json", "{tmp}/out.jsonl"],
                  ["in.json:1: json: nested deeper than 100 levels"]),
    "deep jsonl record": ({"in.jsonl": GOOD + '{"instruction": "x", "output": "y", "meta": ' + DEEP + "}\n"},
                          CONVERT,
                          ["in.jsonl:2: json: nested deeper than 100 levels"]),
    "NaN in jsonl": ({"in.jsonl": '{"instruction": "a", "output": "b", "answer": NaN}\n'},
                     CONVERT,
                     ["in.jsonl:1: json: NaN is not a JSON value"]),
    "Infinity in jsonl": ({"in.jsonl": '{"instruction": "a", "output": "b", "meta": {"x": Infinity}}\n'},
                          CONVERT,
                          ["in.jsonl:1: json: Infinity is not a JSON value"]),
    "-Infinity in json": ({"in.json": '[{"instruction": "a", "output": "b", "answer": -Infinity}]'},
                          ["data", "convert", "{tmp}/in.json", "{tmp}/out.jsonl"],
                          ["in.json:1: json: -Infinity is not a JSON value"]),
    "NaN in a csv cell": ({"in.csv": "instruction,output,answer\na,b,NaN\n"},
                          ["data", "convert", "{tmp}/in.csv", "{tmp}/out.jsonl"],
                          ["in.csv:2: answer: NaN is not a JSON value"]),
    "NaN in a parquet column": ({"in.parquet": _parquet_with_nan},
                                ["data", "convert", "{tmp}/in.parquet", "{tmp}/out.jsonl"],
                                ["in.parquet:1: answer: NaN or infinity is not a JSON value"]),
    "empty jsonl": ({"in.jsonl": ""}, ["data", "validate", "{tmp}/in.jsonl"],
                    ["in.jsonl: file: no records in it"]),
    "blank-line jsonl": ({"in.jsonl": "\n  \n\n"}, ["data", "validate", "{tmp}/in.jsonl"],
                         ["in.jsonl: file: no records in it"]),
    "empty csv": ({"in.csv": ""}, ["data", "validate", "{tmp}/in.csv"], ["in.csv: file: no records in it"]),
    "header-only csv": ({"in.csv": "instruction,output\n"}, ["data", "validate", "{tmp}/in.csv"],
                        ["in.csv: file: no records in it"]),
    "empty json": ({"in.json": ""}, ["data", "validate", "{tmp}/in.json"],
                   ["in.json: file: no records in it"]),
    "empty json list": ({"in.json": "[]"}, ["data", "validate", "{tmp}/in.json"],
                        ["in.json: file: no records in it"]),
    "empty convert source": ({"in.jsonl": ""}, CONVERT,
                             ["in.jsonl: file: no records in it"]),
    "json object, not a list": ({"in.json": '{"rows": []}'}, ["data", "validate", "{tmp}/in.json"],
                                ["in.json:1: json: expected a list of records"]),
    "json scalar": ({"in.json": "5"}, ["data", "validate", "{tmp}/in.json"],
                    ["in.json:1: json: expected a list of records"]),
    "jsonl line not an object": ({"in.jsonl": GOOD + "[1, 2]\n"},
                                 CONVERT,
                                 ["in.jsonl:2: record: not an object"]),
    "jsonl bad JSON": ({"in.jsonl": GOOD + '{"instruction": \n'},
                       CONVERT,
                       ["in.jsonl:2: json: not valid JSON"]),
    "bad JSON in a csv cell": ({"in.csv": 'instruction,output,answer\na,b,"{bad"\n'},
                               ["data", "convert", "{tmp}/in.csv", "{tmp}/out.jsonl"],
                               ["in.csv:2: answer: not valid JSON"]),
    "unknown role": ({"in.jsonl": '{"messages": [{"role": "robot", "content": "a"}]}\n'},
                     CONVERT, ["in.jsonl:1: messages.0.role"]),
    "unknown sharegpt speaker": ({"in.jsonl": '{"conversations": [{"from": "cat", "value": "meow"}]}\n'},
                                 CONVERT,
                                 ["in.jsonl:1: conversations.from: unknown speaker 'cat'"]),
    "empty output": ({"in.jsonl": '{"instruction": "a", "output": "  "}\n'},
                     CONVERT, ["in.jsonl:1: output: empty"]),
    "unknown input extension": ({"in.txt": GOOD}, ["data", "validate", "{tmp}/in.txt"],
                                ["in.txt: file: unknown extension"]),
    "missing file": ({}, ["data", "validate", "{tmp}/nope.jsonl"], ["nope.jsonl: file: not found"]),
    "a folder as a file": ({"dir.jsonl/x": "x"}, ["data", "validate", "{tmp}/dir.jsonl"],
                           ["dir.jsonl: file: not a file"]),
    "convert --to nonsense": ({"in.jsonl": GOOD}, ["data", "convert", "{tmp}/in.jsonl", "{tmp}/out.jsonl",
                                                   "--to", "nonsense"],
                              ["--to nonsense: unknown layout; use one of alpaca, sharegpt, messages"]),
    "convert to .xyz": ({"in.jsonl": GOOD}, ["data", "convert", "{tmp}/in.jsonl", "{tmp}/out.xyz"],
                        ["out.xyz: file: unknown extension"]),
    "multi-turn to alpaca": ({"in.jsonl": MULTI}, ["data", "convert", "{tmp}/in.jsonl", "{tmp}/out.jsonl",
                                                   "--to", "alpaca"], ["in.jsonl:1: messages: a multi-turn"]),
    # ---- training configs: refused before any model loads
    "lr: -0.1": ({"c.yaml": TRAIN + "lr: -0.1\n"}, TRAIN_C,
                 ["c.yaml:4: lr: Input should be greater than 0 (got -0.1)"]),
    "lr: .nan": ({"c.yaml": TRAIN + "lr: .nan\n"}, TRAIN_C, ["c.yaml:4: lr:"]),
    "batch_size: 0": ({"c.yaml": TRAIN + "batch_size: 0\n"}, TRAIN_C,
                      ["c.yaml:4: batch_size: Input should be greater than or equal to 1"]),
    "grad_accum: 0": ({"c.yaml": TRAIN + "grad_accum: 0\n"}, TRAIN_C, ["c.yaml:4: grad_accum"]),
    "epochs: 0": ({"c.yaml": TRAIN + "epochs: 0\n"}, TRAIN_C, ["c.yaml:4: epochs"]),
    "max_steps: 0": ({"c.yaml": TRAIN + "max_steps: 0\n"}, TRAIN_C, ["c.yaml:4: max_steps"]),
    "warmup_steps: -1": ({"c.yaml": TRAIN + "warmup_steps: -1\n"}, TRAIN_C,
                         ["c.yaml:4: warmup_steps"]),
    "max_grad_norm: 0": ({"c.yaml": TRAIN + "max_grad_norm: 0\n"}, TRAIN_C,
                         ["c.yaml:4: max_grad_norm"]),
    "dropout: 2": ({"c.yaml": TRAIN + "dropout: 2\n"}, TRAIN_C, ["c.yaml:4: dropout"]),
    "keep_checkpoints: 0": ({"c.yaml": TRAIN + "keep_checkpoints: 0\n"}, TRAIN_C,
                            ["c.yaml:4: keep_checkpoints"]),
    "lora.r: 0": ({"c.yaml": TRAIN + "lora:\n  r: 0\n"}, TRAIN_C, ["c.yaml:5: lora.r"]),
    "lora.dropout: 1.5": ({"c.yaml": TRAIN + "lora: {dropout: 1.5}\n"}, TRAIN_C,
                          ["c.yaml:4: lora.dropout"]),
    "eval.batch_size: 0": ({"c.yaml": TRAIN + "eval: {batch_size: 0}\n"}, TRAIN_C,
                           ["c.yaml:4: eval.batch_size"]),
    "seed: -1": ({"c.yaml": TRAIN + "seed: -1\n"}, TRAIN_C, ["c.yaml:4: seed"]),
    "override --lr -1": ({"c.yaml": TRAIN}, ["train", "{tmp}/c.yaml", "--lr", "-1"],
                         ["--lr: Input should be greater than 0 (got -1)"]),
    "override --batch_size 0": ({"c.yaml": TRAIN}, ["train", "{tmp}/c.yaml", "--batch_size", "0"],
                                ["--batch_size: Input should be greater than or equal to 1"]),
    "override that is not YAML": ({"c.yaml": TRAIN}, ["train", "{tmp}/c.yaml", "--data", "[unclosed"],
                                  ["--data: '[unclosed' is not a valid value"]),
    "latin-1 config": ({"c.yaml": "data: caf\xe9.jsonl\n".encode("latin-1")}, TRAIN_C,
                       ["c.yaml:1: file: not UTF-8 text"]),
    "binary config": ({"c.yaml": b"\x00\x01\x02"}, TRAIN_C, ["c.yaml: file: binary data"]),
    "deep YAML config": ({"c.yaml": "data: " + DEEP + "\n"}, TRAIN_C,
                         ["c.yaml: nested deeper than 100 levels"]),
    "YAML alias bomb": ({"c.yaml": ALIAS_BOMB}, TRAIN_C, ["c.yaml: more than 1000000 values"]),
    "invalid YAML": ({"c.yaml": "data: [unclosed\n"}, TRAIN_C, ["c.yaml:2: not valid YAML"]),
    "config is a list": ({"c.yaml": "- a\n- b\n"}, TRAIN_C, ["c.yaml: expected a mapping"]),
    "data file given as config": ({"in.jsonl": GOOD}, ["train", "{tmp}/in.jsonl"],
                                  ["in.jsonl: a config is a .yaml file; to train on a data file pass"]),
    "missing data path": ({"c.yaml": TRAIN.replace("{data}", "{tmp}/nope.jsonl")}, TRAIN_C,
                          ["data: ", "nope.jsonl: not found"]),
    "data folder without train.jsonl": ({"c.yaml": TRAIN.replace("{data}", "{tmp}/ds"),
                                         "ds/test.jsonl": GOOD},
                                        TRAIN_C, ["data: ", "ds: no train.jsonl"]),
    # ---- data build configs and raw sources
    "build: latin-1 raw source": ({"b.yaml": "sources: [{task: sentiment, path: raw.tsv}]\n",
                                   "raw.tsv": "sentence\tlabel\ncaf\xe9\t1\n".encode("latin-1")},
                                  BUILD_B,
                                  ["raw.tsv:2: file: not UTF-8 text"]),
    "build: empty raw source": ({"b.yaml": "sources: [{task: sentiment, path: raw.tsv}]\n", "raw.tsv": ""},
                                BUILD_B,
                                ["raw.tsv: file: no records in it"]),
    "build: negative split": ({"b.yaml": "sources: [{task: sentiment, path: r.tsv}]\nsplits: {train: -1}\n"},
                              BUILD_B, ["b.yaml:2: splits.train"]),
    "build: no sources": ({"b.yaml": "sources: []\n"}, BUILD_B,
                          ["b.yaml:1: sources"]),
    "build: latin-1 config": ({"b.yaml": "sources: [{task: caf\xe9}]\n".encode("latin-1")},
                              BUILD_B, ["b.yaml:1: file: not UTF-8"]),
    "build: deep raw JSON": ({"b.yaml": "sources: [{task: sentiment, path: raw.json}]\n", "raw.json": DEEP},
                             BUILD_B,
                             ["raw.json:1: json: nested deeper than 100 levels"]),
    # ---- SQuAD files and evaluation reports
    "squad: rows without answers": ({"b.yaml": "sources: [{task: qa, path: in.jsonl}]\n"}, BUILD_B,
                                    ["in.jsonl:1: answers: expected"]),
    "squad: not the SQuAD layout": ({"b.yaml": "sources: [{task: qa, path: in.json}]\n",
                                     "in.json": '{"data": [{"paragraphs": [{"context": "c"}]}]}'},
                                    BUILD_B, ["in.json: data: not SQuAD's layout"]),
    "squad: deep json": ({"b.yaml": "sources: [{task: qa, path: in.json}]\n", "in.json": DEEP}, BUILD_B,
                         ["in.json: json: nested deeper than 100 levels"]),
    "compare: latin-1 report": ({"r/report.json": b'{"tasks": "\xe9"}'}, ["compare", "{tmp}/r"],
                                ["report.json:1: file: not UTF-8 text"]),
    "compare: report not an object": ({"r/report.json": "[1]"}, ["compare", "{tmp}/r"],
                                      ["report.json: not an ILS evaluation report"]),
    # ---- options
    "eval --batch-size 0": ({"in.jsonl": GOOD}, ["eval", "{tmp}/in.jsonl", "--batch-size", "0"],
                            ["'--batch-size'", "greater than or equal to 1"]),
    "eval --limit -1": ({"in.jsonl": GOOD}, ["eval", "{tmp}/in.jsonl", "--limit", "-1"], ["'--limit'"]),
    "eval --max-new-tokens 0": ({"in.jsonl": GOOD}, ["eval", "{tmp}/in.jsonl", "--max-new-tokens", "0"],
                                ["'--max-new-tokens'"]),
    "eval few-shot:-3": ({"in.jsonl": GOOD}, ["eval", "{tmp}/in.jsonl", "--compare", "few-shot:-3", "--plain",
                                              "-o", "{tmp}/out"], ["'few-shot:-3': k must be at least 1"]),
    "generate --top-p 2": ({}, ["generate", "-p", "hi", "--top-p", "2"],
                           ["'--top-p'", "less than or equal to 1"]),
    "generate --temperature -1": ({}, ["generate", "-p", "hi", "--temperature", "-1"], ["'--temperature'"]),
    "serve --port 70000": ({}, ["serve", "--port", "70000"], ["'--port'", "less than or equal to 65535"]),
    "serve --api-key": ({}, ["serve", "--api-key", "k"], ["--api-key shows the key", "--api-key-env"]),
    "procedural --n 0": ({}, ["data", "procedural", "-o", "{tmp}/out", "--n", "0"], ["'--n'"]),
    "self-instruct --n 0": ({"in.jsonl": GOOD}, ["generate", "self-instruct", "--seeds", "{tmp}/in.jsonl",
                                                 "-o", "{tmp}/out", "--n", "0"], ["'--n'"]),
    "demo --steps 0": ({}, ["demo", "--steps", "0", "-o", "{tmp}/out"], ["'--steps'"]),
}


def _flat(text: str) -> str:
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


@pytest.mark.parametrize("name", list(CASES))
def test_malformed_input_is_a_clear_error(name, tmp_path, tiny_llama):
    files, args, expected = CASES[name]
    subs = {"tmp": tmp_path, "data": tmp_path / "in.jsonl", "model": tiny_llama, "out": tmp_path / "run"}
    for rel, content in {"in.jsonl": GOOD, **files}.items():
        _write(tmp_path / rel, content, subs)
    before = {p.name for p in tmp_path.iterdir()}
    status, text = ils(*(_fill(a, subs) for a in args))
    assert status == 2, text
    assert "Traceback" not in text
    for fragment in expected:
        assert fragment in _flat(text), (fragment, text)
    after = {p.name for p in tmp_path.iterdir()}
    assert after - before <= {"run"}, after - before  # nothing written; a run folder is the train check's job


def _fill(text: str, subs: dict) -> str:
    for key, value in subs.items():
        text = text.replace("{" + key + "}", str(value))
    return text


def _write(path: Path, content, subs: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if callable(content):
        content(path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(_fill(content, subs), encoding="utf-8")


def test_the_suite_has_at_least_fifty_cases():
    assert len(CASES) >= 50


def test_a_bom_is_read_in_jsonl_and_csv(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    (tmp_path / "a.csv").write_bytes(b"\xef\xbb\xbfinstruction,output\nSay hi.,hi\n")
    for name in ("a.jsonl", "a.csv"):
        status, text = ils("data", "convert", tmp_path / name, tmp_path / f"out-{name}.jsonl")
        assert status == 0, text
        row = json.loads((tmp_path / f"out-{name}.jsonl").read_text())
        assert row["messages"][0]["content"] == "Say hi."


def test_a_killed_convert_leaves_nothing_the_next_run_keeps(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    stale = tmp_path / f".out.jsonl.{dead}.abc123"  # what atomic_path leaves when its writer is killed
    stale.mkdir()
    (stale / "out.jsonl").write_text("half")
    (tmp_path / "in.jsonl").write_text(GOOD)
    status, text = ils("data", "convert", tmp_path / "in.jsonl", tmp_path / "out.jsonl")
    assert status == 0, text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]


def test_nan_never_reaches_output_json(tmp_path):
    from ils.io import write_json

    write_json(tmp_path / "r.json", {"mean": float("nan"), "rows": [float("inf"), 1.5]})
    assert json.loads((tmp_path / "r.json").read_text(), parse_constant=lambda c: 1 / 0) == \
        {"mean": None, "rows": [None, 1.5]}
