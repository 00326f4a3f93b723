"""Each metric family on hand-made data whose right answer is worked out by hand."""

from __future__ import annotations

import math

import pytest

from ils.evaluate.metrics import get_metric, load_builtins
from ils.evaluate.metrics.code import pass_at_k
from ils.evaluate.metrics.entities import to_bio
from ils.evaluate.metrics.squad import normalize_answer


def test_registry_lists_every_family():
    names = set(load_builtins().names()) if hasattr(load_builtins(), "names") else set(load_builtins())
    assert {
        "exact_match",
        "accuracy",
        "classification",
        "entity_f1",
        "squad",
        "rouge",
        "bleu",
        "pass_at_k",
    } <= names


def test_classification_counts_unparseable_as_wrong_and_in_its_own_column():
    pred = ["pos", "neg", None, "pos"]
    gold = ["pos", "pos", "neg", "neg"]
    r = get_metric("classification")(pred, gold)
    assert r["accuracy"] == r["score"] == 0.25
    # neg: P=0/1, R=0/2 ; pos: P=1/2, R=1/2  -> macro F1 = (0 + 0.5)/2
    assert r["macro_f1"] == pytest.approx(0.25)
    # micro over the real labels: TP=1, 3 predictions of a label, 4 gold -> P=1/3, R=1/4
    assert r["micro_precision"] == pytest.approx(1 / 3) and r["micro_recall"] == pytest.approx(0.25)
    assert r["micro_f1"] == pytest.approx(2 / 7)
    assert r["confusion"]["labels"] == ["neg", "pos", "<unparseable>"]
    assert r["confusion"]["matrix"] == [[0, 1, 1], [1, 1, 0]]


def test_entities_offsets_need_type_and_extent():
    gold = [[["PER", 0, 2], ["LOC", 4, 5]], [["ORG", 1, 2]]]
    pred = [[["PER", 0, 2], ["LOC", 3, 5]], None]
    r = get_metric("entity_f1")(pred, gold)
    assert r["precision"] == pytest.approx(1 / 2)  # 1 of 2 predicted spans right
    assert r["recall"] == pytest.approx(1 / 3)  # 1 of 3 gold spans found
    assert r["score"] == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))
    assert r["per_type"]["PER"]["f1-score"] == 1.0 and r["per_type"]["ORG"]["recall"] == 0.0


def test_entities_text_spans_are_a_multiset():
    gold = [[["LOC", "Paris"], ["LOC", "Paris"], ["PER", "Ann"]]]
    pred = [[["LOC", "Paris"], ["ORG", "Ann"]]]
    r = get_metric("entity_f1")(pred, gold)
    assert r["precision"] == pytest.approx(0.5) and r["recall"] == pytest.approx(1 / 3)
    assert to_bio([["PER", "x"]], [["PER", "x"]]) == (["B-PER"], ["B-PER"])
    with pytest.raises(ValueError, match="mixed"):
        to_bio([["PER", 0, 1]], [["PER", "x"]])


def test_entities_ner_task_dicts_parsed_against_gold_with_offsets():
    """The ner task parses text into {type, text}; its gold answers also carry token offsets."""
    from ils.tasks import get_task

    gold = [[{"type": "PER", "text": "Ann Lee", "start": 0, "end": 2}, {"type": "LOC", "text": "Rome", "start": 4, "end": 5}]]
    pred = [get_task("ner").parse("PER: Ann Lee\nORG: Rome")]
    r = get_metric("entity_f1")(pred, gold)
    assert r["precision"] == pytest.approx(0.5) and r["recall"] == pytest.approx(0.5)
    both = get_metric("entity_f1")([[{"type": "PER", "text": "A", "start": 0, "end": 1}]],
                                   [[{"type": "PER", "text": "A", "start": 0, "end": 1}]])
    assert both["score"] == 1.0


def test_squad_official_normalisation_and_max_over_golds():
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    r = get_metric("squad")(
        ["the Eiffel Tower", "in Paris France", None], [["Eiffel Tower", "tower"], {"text": ["Paris"]}, "x"]
    )
    assert r["exact_match"] == pytest.approx(1 / 3)
    # second: pred tokens [in, paris, france], gold [paris] -> P=1/3 R=1 F1=0.5
    assert r["f1"] == pytest.approx((1 + 0.5 + 0) / 3)


def test_rouge_identical_and_disjoint():
    r = get_metric("rouge")(["the cat sat on the mat", "dogs bark"], ["the cat sat on the mat", "birds sing"])
    assert (
        r["rouge1"] == pytest.approx(0.5)
        and r["rougeL"] == pytest.approx(0.5)
        and r["rouge2"] == pytest.approx(0.5)
    )


def test_bleu_and_chrf_perfect_and_multi_reference():
    perfect = get_metric("bleu")(["the cat is on the mat today"], ["the cat is on the mat today"])
    assert perfect["bleu_score"] == pytest.approx(100.0) and perfect["chrf"] == pytest.approx(100.0)
    multi = get_metric("bleu")(["a b c d e"], [["x y z w v", "a b c d e"]])
    assert multi["score"] == pytest.approx(1.0)
    mixed = get_metric("bleu")(["the cat is on the mat", "a dog runs in the big park"],  # 1 and 2 references
                               [["the cat is on the mat"], ["x y z w v u", "a dog runs in the big park"]])
    assert mixed["score"] == pytest.approx(1.0)


def test_pass_at_k_estimator_matches_the_closed_form():
    assert pass_at_k(10, 0, 1) == 0.0 and pass_at_k(10, 10, 5) == 1.0
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(10, 3, 5) == pytest.approx(1 - math.comb(7, 5) / math.comb(10, 5))


def test_pass_at_k_runs_candidates_against_tests():
    tests = "assert add(2, 3) == 5\nassert add(-1, 1) == 0"
    good, bad = "def add(a, b):\n    return a + b", "def add(a, b):\n    return a - b"
    r = get_metric("pass_at_k")([[good, bad], [bad, None]], [tests, {"tests": tests, "setup": "import math"}])
    assert r["pass@1"] == pytest.approx((0.5 + 0.0) / 2)
    assert "pass@5" not in r and r["samples"] == 2
