"""Relation extraction (SemEval-2010 Task 8): reader with file:line errors, parser, templates, the
official score (checked against the official Perl scorer), and both model kinds on the same records:
an encoder with the relation head and a generative model, judged by the same evaluator."""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ils.config import EvalOptions, HeadOptions, LoraOptions, TrainConfig
from ils.data.build import build_dataset
from ils.errors import RecordError
from ils.records import Example
from ils.tasks import get_task
from ils.tasks.relation import LABELS, official_score

SEMEVAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "semeval2010_task8"
PEOPLE, PLACES, ANIMALS = ["peter", "mary", "john"], ["paris", "london", "berlin"], ["cat", "dog"]


def semeval_file(path: Path, rows: list[tuple[str, str]], start: int = 1) -> Path:
    """Rows of (sentence with <e1>/<e2> tags, relation) in the SemEval layout."""
    blocks = [f'{start + i}\t"{s}"\n{r}\nComment:\n' for i, (s, r) in enumerate(rows)]
    path.write_text("\n".join(blocks))
    return path


def toy_rows(n: int, seed: int) -> list[tuple[str, str]]:
    """Who lives where, in either order (the direction says which entity is the person), or Other."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        person, place, kind = rng.choice(PEOPLE), rng.choice(PLACES), rng.randrange(3)
        if kind == 0:
            rows.append((f"<e1>{person}</e1> lives in <e2>{place}</e2> .", "Entity-Destination(e1,e2)"))
        elif kind == 1:
            rows.append((f"<e1>{place}</e1> is the city of <e2>{person}</e2> .", "Entity-Destination(e2,e1)"))
        else:
            rows.append((f"the <e1>{rng.choice(ANIMALS)}</e1> sat on the <e2>mat</e2> .", "Other"))
    return rows


def test_reader_keeps_spans_and_names_file_and_line_of_bad_blocks(tmp_path):
    task = get_task("relation")
    good = semeval_file(tmp_path / "a.txt", [("The <e1>company</e1> fabricates plastic <e2>chairs</e2>.",
                                               "Product-Producer(e2,e1)")], start=8002)
    rec = next(iter(task.read(good)))
    f = rec.fields
    assert f["text"] == "The company fabricates plastic chairs." and f["id"] == "8002"
    assert f["text"][slice(*f["e1_span"])] == "company" and f["text"][slice(*f["e2_span"])] == "chairs"
    assert task.answer(f) == "Product-Producer(e2,e1)" and rec.where == f"{good}:1#8002"
    bad = semeval_file(tmp_path / "b.txt", [("A <e1>x</e1> and <e2>y</e2>.", "Other"),
                                            ("A <e1>x</e1> and <e2>y</e2>.", "Cause-Effect(e1,e1)"),
                                            ("No markers here.", "Other")])
    errors = [str(r) for r in task.read(bad) if isinstance(r, RecordError)]
    assert errors == [f"{bad}:6: relation: 'Cause-Effect(e1,e1)' is not one of the 19 labels",
                      f"{bad}:9: sentence: needs one <e1>…</e1> and one <e2>…</e2>"]


def test_parser_reads_label_and_direction_or_says_unparseable():
    task = get_task("relation")
    assert len(LABELS) == 19 and task.answer_choices() == LABELS
    assert task.parse("The answer is cause-effect ( E2 , e1 ).") == "Cause-Effect(e2,e1)"
    assert task.parse(" Other.") == "Other" and task.parse("Message-Topic(e1,e2)") == "Message-Topic(e1,e2)"
    assert [task.parse(t) for t in ("Cause-Effect", "Foo-Bar(e1,e2)", "yes")] == [None, None, None]


def test_every_template_renders_an_answer_that_parses_back(tmp_path):
    from ils.data.roundtrip import roundtrip

    path = semeval_file(tmp_path / "t.txt", toy_rows(12, 0))
    result = roundtrip("relation", path)
    assert result["share"] == 1.0 and result["checked"] == 12 * 5


def test_official_score_by_hand():
    gold = ["Cause-Effect(e1,e2)", "Cause-Effect(e2,e1)", "Message-Topic(e1,e2)", "Other"]
    pred = ["Cause-Effect(e1,e2)", "Cause-Effect(e1,e2)", None, "Message-Topic(e1,e2)"]
    s = official_score(pred, gold)
    # Cause-Effect: 1 right of 2 predicted, 2 gold -> P 0.5, R 0.5; Message-Topic: 0 right -> F1 0
    assert s["per_relation"]["Cause-Effect"]["f1"] == pytest.approx(0.5)
    assert s["score"] == pytest.approx(0.25) and s["accuracy_19way"] == pytest.approx(0.25)


def _perl_official(scorer: Path, pred: Path, key: Path) -> tuple[float, float, float]:
    out = subprocess.run(["perl", str(scorer), str(pred), str(key)], capture_output=True, text=True,
                         check=True).stdout
    official = out.split("TAKING DIRECTIONALITY INTO ACCOUNT -- OFFICIAL")[1]
    macro = r"MACRO-averaged result.*?P =\s*([\d.]+)%\s*R =\s*([\d.]+)%\s*F1 =\s*([\d.]+)%"
    p, r, f = re.search(macro, official, re.S).groups()
    return float(p), float(r), float(f)


@pytest.mark.data
def test_official_score_equals_the_perl_scorer_on_a_prediction_file(tmp_path):
    scorer = SEMEVAL / "semeval2010_task8_scorer-v1.2.pl"
    if not scorer.is_file() or shutil.which("perl") is None:
        pytest.skip("needs ../shared/data/semeval2010_task8 and perl")
    recs = [r for r in get_task("relation").read(SEMEVAL / "TEST_FILE_FULL.TXT")]
    ids, gold = [r.fields["id"] for r in recs], [r.fields["relation"] for r in recs]
    rng, pred = random.Random(0), []
    for g in gold:  # right, skipped (unparseable), wrong direction, or any label
        x = rng.random()
        flipped = g.replace("(e1,e2)", "(X)").replace("(e2,e1)", "(e1,e2)").replace("(X)", "(e2,e1)")
        pred.append(g if x < 0.6 else None if x < 0.7 else flipped if x < 0.8 else rng.choice(LABELS))
    key = tmp_path / "key.txt"
    key.write_text("".join(f"{i}\t{g}\n" for i, g in zip(ids, gold)))
    answers = tmp_path / "pred.txt"
    answers.write_text("".join(f"{i}\t{p}\n" for i, p in zip(ids, pred) if p is not None))
    p, r, f = _perl_official(scorer, answers, key)
    ours = official_score(pred, gold)
    assert (round(100 * ours["macro_precision"], 2), round(100 * ours["macro_recall"], 2),
            round(100 * ours["score"], 2)) == (p, r, f)
    assert 0.5 < ours["score"] < 0.8  # a mix of right and wrong answers, not a trivial case


def _data(tmp_path: Path) -> Path:
    tr = semeval_file(tmp_path / "tr.txt", toy_rows(96, 0))
    va = semeval_file(tmp_path / "va.txt", toy_rows(24, 1))
    src = lambda p, split, name: {"task": "relation", "path": str(p), "split": split, "name": name}  # noqa: E731
    sources = [src(tr, "train", "tr"), src(va, "validation", "va"), src(va, "test", "te")]
    return build_dataset({"sources": sources, "splits": {"train": 1.0, "validation": 0.0, "test": 0.0},
                          "dedup": {"exact": False, "near": False}}, tmp_path / "ds", progress=False)


def test_relation_head_marks_entities_and_pools_their_starts(tiny_bert):
    from ils.models.heads import HeadSpec, get_head
    from ils.models.heads.relation import mark
    from ils.models.loading import load_tokenizer

    marked, starts = mark("peter lives in paris .", [0, 5], [15, 20])
    assert marked == "$ peter $ lives in # paris # ." and [marked[s] for s in starts] == ["$", "#"]
    tok = load_tokenizer(tiny_bert)
    x = {"text": "peter lives in paris .", "e1": [0, 5], "e2": [15, 20], "label": "Other"}
    ids, labels, _ = get_head("relation").encode([x], tok, HeadSpec("relation", ["Other"], 64))[0]
    pieces = tok.convert_ids_to_tokens(ids)
    assert labels[0] == 0 and pieces[labels[1] + 1] == "peter" and pieces[labels[2] + 1] == "paris"


@pytest.mark.parametrize("method", ["full", "lora"])
def test_encoder_route_trains_reloads_and_is_scored_by_the_official_metric(tiny_bert, tmp_path, method):
    from ils.dataset import read_split
    from ils.evaluate.modes import evaluate_modes
    from ils.train.loop import train

    data = _data(tmp_path)
    run = train(TrainConfig(model=str(tiny_bert), data=str(data), output=str(tmp_path / "run"), method=method,
                            head=HeadOptions(kind="auto"), lora=LoraOptions(r=8, alpha=16), max_steps=80,
                            batch_size=8, lr=3e-3, warmup_steps=2, eval_every=40, save_every=0, bf16=False,
                            max_length=64, eval=EvalOptions(test=str(data), split="validation")))
    own = json.loads((run / "eval" / "report.json").read_text())["modes"][str(run)]["tasks"]["relation"]
    assert own["metric"] == "semeval_macro_f1" and own["score"] >= 0.9 and own["n"] == 24
    assert json.loads((run / "ils.json").read_text())["head"]["kind"] == "relation"
    again = evaluate_modes(read_split(data, "test"), [str(run)], tmp_path / "ev", progress=False)
    assert again["modes"][str(run)]["tasks"]["relation"]["score"] == own["score"]  # reloaded from disk


from ils.infer.protocol import Engine  # noqa: E402


class Scripted(Engine):
    """A generative engine that answers from a table (and cannot score options)."""

    context = 2048

    def __init__(self, answers: dict[str, str]):
        self.answers = answers

    def generate(self, prompts, sampling=None, *, adapter=None, on_text=None, progress=False):
        from ils.infer.protocol import Completion

        return [Completion(self.answers[c[-1]["content"]]) for c in prompts]

    def score(self, prompts, options, *, adapter=None):
        from ils.infer.protocol import EngineError

        raise EngineError("no log-probabilities")


def test_generative_route_on_the_same_records_is_judged_by_the_same_metric(tmp_path):
    from ils.dataset import read_split
    from ils.evaluate.runner import evaluate

    test = read_split(_data(tmp_path), "test")
    answers = {}
    for i, ex in enumerate(test):  # a third answer without a label; records may share a prompt
        answers.setdefault(ex.instruction, f"The relation is {ex.answer}." if i % 3 else "It is a relation.")
    report = evaluate(Scripted(answers), test, tmp_path / "e", progress=False)
    rel = report["tasks"]["relation"]
    preds = [None if answers[ex.instruction].startswith("It") else ex.answer for ex in test]
    assert rel["metric"] == "semeval_macro_f1" and rel["unparseable"] == preds.count(None) > 0
    assert rel["score"] == pytest.approx(official_score(preds, [ex.answer for ex in test])["score"])
    rows = [json.loads(x) for x in (tmp_path / "e" / "predictions.jsonl").read_text().splitlines()]
    assert sum(r["correct"] for r in rows) == len(test) - preds.count(None) and "overall" not in report
    assert isinstance(test[0], Example) and test[0].meta["fields"]["e1_span"]
