"""Zero-shot, few-shot and tuned modes side by side; the report folder; comparison; clear errors."""

from __future__ import annotations

import json

import pytest

from ils.errors import EvalError
from ils.evaluate.compare import compare_reports
from ils.evaluate.fewshot import FewShot, few_shot_chat, fit_chat
from ils.evaluate.modes import evaluate_modes, parse_mode
from ils.infer.engine import Sampling
from ils.records import Example, write_examples
from ils.tasks import TASKS, Task


class Polarity(Task):
    name, metric, choices = "test_polarity", "classification", ("neg", "pos")

    def parse(self, text):
        t = text.strip().lower()
        return t if t in self.choices else None


@pytest.fixture(scope="module", autouse=True)
def _polarity():
    TASKS.add(Polarity())
    yield
    TASKS.remove("test_polarity")


def rec(text: str, label: str, i: int = 0) -> Example:
    return Example.from_alpaca(
        f"Polarity of: {text}", "", label, task="test_polarity", answer=label, id=f"r{i}"
    )


TRAIN = [
    rec(t, lab, i)
    for i, (t, lab) in enumerate(
        [("good fun", "pos"), ("bad plot", "neg"), ("great cast", "pos"), ("boring", "neg"), ("good", "pos")]
    )
]
TEST = [
    rec(t, lab, 10 + i)
    for i, (t, lab) in enumerate([("good story", "pos"), ("bad acting", "neg"), ("fine", "pos")])
]


def test_parse_mode_specs():
    assert parse_mode("zero-shot").kind == "zero-shot" and parse_mode("base").name == "zero-shot"
    m = parse_mode("few-shot:3:similar", "m")
    assert (m.kind, m.k, m.select, m.model) == ("few-shot", 3, "similar", "m")
    with pytest.raises(EvalError, match="integer"):
        parse_mode("few-shot:x")


def test_few_shot_selection_is_seeded_and_similarity_ranks():
    a = FewShot(TRAIN, 2, "random", seed=1).exemplars(TEST)
    assert a == FewShot(TRAIN, 2, "random", seed=1).exemplars(TEST) and all(len(x) == 2 for x in a)
    sim = FewShot(TRAIN, 2, "similar").exemplars([rec("good story", "pos")])[0]
    assert sim[-1].instruction in ("Polarity of: good", "Polarity of: good fun")  # most similar sits last
    chat = few_shot_chat(sim, TEST[0])
    assert [m["role"] for m in chat] == ["user", "assistant", "user", "assistant", "user"]
    with pytest.raises(EvalError, match="larger than the train split"):
        FewShot(TRAIN, 6)


def test_fit_chat_drops_exemplars_until_the_prompt_fits():
    count = lambda chat: sum(len(m["content"]) for m in chat)
    full = count(few_shot_chat(TRAIN[:3], TEST[0]))
    chat, kept = fit_chat(TRAIN[:3], TEST[0], count, full - 1)
    assert kept == 2 and chat[0]["content"] == TRAIN[1].instruction
    assert fit_chat(TRAIN[:3], TEST[0], count, 0)[1] == 0


@pytest.fixture(scope="module")
def evaluated(tiny_llama, tmp_path_factory):
    out = tmp_path_factory.mktemp("evalout")
    specs = ["zero-shot", "few-shot:2", "few-shot:2:similar", str(tiny_llama)]
    report = evaluate_modes(
        TEST, specs, out, str(tiny_llama), TRAIN, Sampling(max_new_tokens=3), batch_size=4, progress=False
    )
    return out, report


def test_modes_report_folder(evaluated, tiny_llama):
    out, report = evaluated
    assert list(report["modes"]) == ["zero-shot", "few-shot:2", "few-shot:2:similar", str(tiny_llama)]
    few = report["modes"]["few-shot:2"]
    assert few["shots"]["k"] == 2 and few["shots"]["mean_kept"] == 2
    t = few["tasks"]["test_polarity"]
    assert t["n"] == 3 and 0 <= t["unparseable"] <= 3 and "likelihood" in t and "confusion" in t
    assert len(few["fingerprints"]["model"]) == 64
    saved = json.loads((out / "report.json").read_text())
    assert len(saved["table"]) == 4 and saved["config"]["n_train"] == 5
    assert len(saved["config"]["test_records_sha256"]) == 64
    rows = [json.loads(x) for x in (out / "1-few-shot-2" / "predictions.jsonl").read_text().splitlines()]
    assert {"input", "reference", "output", "parsed", "correct", "unparseable", "ll_parsed"} <= set(rows[0])
    assert (out / "charts" / "metric_per_mode.png").stat().st_size > 1000
    assert list((out / "charts").glob("confusion_*.png"))
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "few-shot:2" in html
    # zero-shot with the base model and the same model as "tuned" see the same prompts: same numbers
    assert report["modes"]["zero-shot"]["tasks"] == report["modes"][str(tiny_llama)]["tasks"]


def test_compare_reports_shows_deltas(evaluated, tmp_path):
    import shutil

    out, report = evaluated
    other = tmp_path / "other"
    shutil.copytree(out, other)
    result = compare_reports([out, other / "report.json"])
    assert result["columns"][-1] == f"other/{tiny_name(report)}" and len(result["columns"]) == 8
    parsed = next(r for r in result["rows"] if r["kind"] == "parsed")
    assert parsed["deltas"][0] == 0 and parsed["deltas"][4] == 0
    with pytest.raises(EvalError, match="no report.json"):
        compare_reports([tmp_path / "missing"])
    with pytest.raises(EvalError, match="not a combined ILS evaluation report"):
        compare_reports([out / "0-zero-shot"])  # one shape: a mode's own report is not it


def tiny_name(report: dict) -> str:
    from pathlib import Path

    return Path(list(report["modes"])[-1]).name


def test_bad_inputs_are_clear_errors(tiny_llama, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "ils.json").write_text("{}")
    kw = {"sampling": Sampling(max_new_tokens=2), "progress": False}
    with pytest.raises(EvalError, match="no adapter/ or model/"):
        evaluate_modes(TEST, [str(run)], tmp_path / "o1", str(tiny_llama), **kw)
    with pytest.raises(EvalError, match="k=9 is larger than the train split"):
        evaluate_modes(TEST, ["few-shot:9"], tmp_path / "o2", str(tiny_llama), TRAIN, **kw)
    with pytest.raises(EvalError, match="label spaces differ"):
        evaluate_modes(
            TEST,
            ["few-shot:1"],
            tmp_path / "o3",
            str(tiny_llama),
            [t for t in TRAIN if t.answer == "pos"],
            **kw,
        )
    with pytest.raises(EvalError, match="not one of"):
        evaluate_modes([rec("x", "meh")], ["zero-shot"], tmp_path / "o4", str(tiny_llama), **kw)
    nameless = Example.from_alpaca("hi", "", "x", task="no_such_task")
    with pytest.raises(EvalError, match="no registered parser"):
        evaluate_modes([nameless], ["zero-shot"], tmp_path / "o5", str(tiny_llama), **kw)
    tuned = tmp_path / "tuned"
    (tuned / "adapter").mkdir(parents=True)
    (tuned / "ils.json").write_text("{}")
    write_examples(tmp_path / "only_pos.jsonl", [t for t in TRAIN if t.answer == "pos"])
    (tuned / "config.yaml").write_text(f"data: {tmp_path / 'only_pos.jsonl'}\n")
    with pytest.raises(EvalError, match="tuned: label spaces differ"):
        evaluate_modes(TEST, [str(tuned)], tmp_path / "o7", str(tiny_llama), **kw)
    with pytest.raises(EvalError, match="needs a train split"):
        evaluate_modes(TEST, ["few-shot:1"], tmp_path / "o6", str(tiny_llama), **kw)


def test_cli_eval_and_compare(tiny_llama, tmp_path):
    from typer.testing import CliRunner

    from ils.cli import app

    data = tmp_path / "data"
    write_examples(data / "train.jsonl", TRAIN)
    write_examples(data / "test.jsonl", TEST)
    res = CliRunner().invoke(
        app,
        [
            "eval",
            str(data),
            "-m",
            str(tiny_llama),
            "--compare",
            "zero-shot,few-shot:1",
            "-o",
            str(tmp_path / "e"),
            "--max-new-tokens",
            "2",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "few-shot:1" in res.output and (tmp_path / "e" / "report.html").is_file()
    res = CliRunner().invoke(app, ["compare", str(tmp_path / "e"), str(tmp_path / "e")])
    assert res.exit_code == 0 and "+0.000" in res.output, res.output


def test_rescore_reparses_saved_outputs_without_a_model(evaluated, tmp_path, monkeypatch):
    import shutil

    from ils.evaluate.rescore import rescore

    out, report = evaluated
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    before = json.loads((copy / "report.json").read_text())["modes"]["zero-shot"]["tasks"]["test_polarity"]
    monkeypatch.setattr(Polarity, "parse", lambda self, text: None)  # a parser that reads nothing
    folders = rescore(copy)
    assert len(folders) == 4
    after = json.loads((copy / "0-zero-shot" / "report.json").read_text())["tasks"]["test_polarity"]
    assert after["unparseable"] == 3 and after["score"] == 0.0
    assert after["likelihood"] == before["likelihood"]  # no text parsed there: unchanged
    combined = json.loads((copy / "report.json").read_text())["modes"]["zero-shot"]["tasks"]["test_polarity"]
    assert combined["unparseable"] == 3
    with pytest.raises(EvalError, match="no report folder"):
        rescore(tmp_path / "empty")
