"""The public data in ../shared/data: conversion with the built-in tasks and the round-trip figure."""

import json
from pathlib import Path

import pytest

from ils.data.build import build_dataset
from ils.data.roundtrip import roundtrip

DATA = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()
pytestmark = [pytest.mark.data,
              pytest.mark.skipif(not DATA.is_dir(), reason=f"public data folder {DATA} is absent")]


@pytest.mark.parametrize("task,path", [("ner", "conll2003/valid.txt"), ("qa", "squad_v1.1/dev-v1.1.json"),
                                       ("sentiment", "sst2/dev.tsv")])
def test_reference_outputs_parse_back_to_gold_exactly(task, path):
    r = roundtrip(task, DATA / path, limit=1500)
    assert r["invalid"] == 0 and r["checked"] > 1000
    assert r["share"] == 1.0, r["misses"]


def test_sst2_build_counts(tmp_path):
    cfg = {"seed": 0, "sources": [{"task": "sentiment", "path": str(DATA / "sst2/train.tsv"), "limit": 3000}],
           "eval_sets": [{"task": "sentiment", "path": str(DATA / "sst2/dev.tsv")}]}
    out = build_dataset(cfg, tmp_path / "ds", progress=False)
    man = json.loads((out / "manifest.json").read_text())
    assert man["stages"][0] == {"stage": "read sentiment-train", "in": 3000, "out": 3000, "dropped": 0,
                                "invalid": 0}
    kept = sum(man["splits"].values())
    assert kept + len(man["drops"]) == 3000
    labels = man["per_label"]
    assert set(labels) == {"sentiment/negative", "sentiment/positive"}
