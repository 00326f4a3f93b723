"""Grounded map answers and the evidence-weighted reduce: an invented value cannot outvote one found
verbatim, the map step's own odds weigh each vote, ties and close calls are reported, and bad input
ends in a clear answer or a clear error."""

from __future__ import annotations

import json

import pytest

from ils.errors import PlanError
from ils.infer.ground import ChunkWords, anchors, grounded, words
from ils.infer.longrun import run
from ils.infer.plans import Plan, Step, check_plan, map_reduce
from ils.infer.protocol import Completion, Engine
from ils.infer.reducers import Vote, evidence, parse, weigh


def test_words_normalise_case_space_and_the_punctuation_around_numbers():
    chunk = ChunkWords("The  pass key is 48,213. Remember it! Call (0171) 542-1234; see Paris, France.")
    for found in ("48213", "48,213", "48213.", "PASS KEY", '"Paris"', "paris, france", "542-1234", "0171"):
        assert chunk.has(found), found
    for missing in ("4821", "1", "213", "Paris France", "Lyon", "", "..."):
        assert not chunk.has(missing), missing
    assert words("Ｆｕｌｌ\u00a0width 1,204 and 1'204 (1, 2)") == ["full", "width", "1204", "and", "1204", "(",
                                                                 "1", ",", "2", ")"]


def test_anchors_and_grounding_by_kind():
    assert anchors('What is the value of key "red-fox-3"?') == ["red-fox-3"]
    assert anchors("What is the pass key?") == []
    chunk = ChunkWords('Key "red-fox-3" has the value 12345. VAR A = 77.')
    assert grounded("value", "12345", chunk, ["red-fox-3"]) == ("12345", None)
    assert grounded("value", "12345", chunk, ["blue-owl-1"]) == (None, "12345")  # not the key asked about
    assert grounded("list", ["A = 77", "B = 77"], chunk) == (["A = 77"], ["B = 77"])
    assert grounded("list", ["Z = 1"], chunk) == (None, ["Z = 1"])
    text, asked = ChunkWords("The Broncos trained at Stanford University."), "Where did the Broncos practice?"
    restated = "The Broncos practiced at Stanford University"
    assert grounded("span", restated, text, question=asked) == ("Stanford University", None)
    assert grounded("span", "The Broncos practiced", text, question=asked) == (None, "The Broncos practiced")
    assert grounded("value", restated, text, question=asked) == (None, restated)  # only spans are forgiven


def test_weigh_adds_log_odds_and_reports_ties_close_calls_and_doubt():
    clear = weigh([Vote("7", 0, 0.1), Vote("7", 1, 0.1), Vote("7", 3, 0.1), Vote("42", 2, 2.9)])
    assert clear["answer"] == "42" and not clear["tie"] and not clear["near_tie"] and clear["reason"] is None
    assert clear["candidates"][1] == {"answer": "7", "weight": 0.3, "votes": 3, "chunks": [[0, 0.1], [1, 0.1], [3, 0.1]]}
    close = weigh([Vote("7", 0, 0.9), Vote("42", 1, 1.0)])
    assert close["answer"] == "42" and close["near_tie"]
    tie = weigh([Vote("7", 0), Vote("42", 1)])
    assert tie["answer"] is None and tie["tie"] and "ties between '7' and '42'" in tie["reason"]
    doubt = weigh([Vote("7", 0, -0.5), Vote("42", 1, -2.0)])
    assert doubt["answer"] is None and "preferred NONE" in doubt["reason"] and "'7'" in doubt["reason"]
    assert weigh([Vote("48,213", 0, 0.5), Vote("48213.", 1, 0.5)])["candidates"][0]["votes"] == 2
    assert weigh([])["answer"] is None and weigh([])["reason"] is None
    assert evidence(-1.0, -3.0) == 2.0 and evidence(-900.0, 0.0) == -20.0


def test_parse_reads_not_found_said_in_words():
    assert parse("value", 'The pass key is: "NONE"') is None
    assert parse("value", 'The value of key "orange-otter-0" is not given.') is None
    assert parse("value", "The value of orange-otter-0 is not a number.") is None
    assert parse("value", "The value of key k-9 is 85373.") == "85373"
    assert parse("number", "There are 7 such sentences.") == 7
    assert parse("span", "Denver Broncos.") == "Denver Broncos"


class Model(Engine):
    """A scripted map step: ``answers`` maps a marker in the chunk to the reply; other chunks get
    ``default``. ``odds`` maps an answer to its log-probability (NONE is -3). Records score calls."""

    context = 400

    def __init__(self, answers: dict[str, str], default: str = "NONE", odds: dict[str, float] | None = None):
        self.answers, self.default, self.odds, self.score_calls = answers, default, odds or {}, []

    def count_tokens(self, prompt):
        return sum(len(m["content"].split()) for m in prompt) + 4 if not isinstance(prompt, str) else len(prompt.split())

    def generate(self, prompts, sampling=None, **kw):
        return [Completion(self._reply(p[-1]["content"])) for p in prompts]

    def _reply(self, prompt: str) -> str:
        return next((reply for marker, reply in self.answers.items() if marker in prompt), self.default)

    def score(self, prompts, options, *, adapter=None):
        self.score_calls.append(len(prompts))
        return [[-3.0 if o.endswith("NONE") else self.odds.get(o.split()[-1], -2.0) for o in opts] for opts in options]


def document(tmp_path, paragraphs: list[str], name: str = "doc.txt"):
    filler = "Ines carried 12 lanterns near the river on Tuesday. Kofi sold 7 maps behind the station."
    path = tmp_path / name
    path.write_text("\n\n".join(p if p else filler for p in paragraphs))
    return path


def go(tmp_path, model, doc, question="What is the pass key?", kind="value", **kw):
    return run(question, doc, kw.pop("plan", "map-reduce"), kind, {"default": model}, tmp_path / "out",
               chunk_tokens=kw.pop("chunk_tokens", 30), overlap=0, batch_size=kw.pop("batch_size", 64), **kw)


def test_an_invented_value_cannot_outvote_the_one_found_verbatim(tmp_path):
    """The issue's failure: chunks without the key said "The pass key is 1." and the vote chose 1."""
    doc = document(tmp_path, ["", "", "Write down the pass key 48213 before you go on.", "", "", ""])
    model = Model({"48213": "The pass key is 48213."}, default="The pass key is 1.")
    result = go(tmp_path, model, doc)
    assert result["answer"] == "48213" and result["found"]
    assert [u["answer"] for u in result["ungrounded"]] == ["1"] * (result["chunks"] - 1)
    (vote,) = result["evidence"]["reduce"]["candidates"][0]["chunks"]
    assert {u["chunk"] for u in result["ungrounded"]} == set(range(result["chunks"])) - {vote[0]}
    ungrounded = go(tmp_path / "b", model, doc, ground=False)
    assert ungrounded["answer"] == "1" and ungrounded["ungrounded"] == []  # what --no-ground gives


def test_weights_follow_the_map_steps_own_odds_not_the_number_of_chunks(tmp_path):
    doc = document(tmp_path, ["", "", "Your pass key is 55120; keep it safe.", "", ""])
    model = Model({"55120": "The pass key is 55120."}, default="The pass key is 12.", odds={"55120": -0.1, "12": -2.9})
    result = go(tmp_path, model, doc, batch_size=2, chunk_tokens=20)
    assert result["answer"] == "55120"
    top, other = result["evidence"]["reduce"]["candidates"]
    assert top["votes"] == 1 and other["answer"] == "12" and other["votes"] >= 3
    assert other["votes"] + len(result["ungrounded"]) == result["chunks"] - 1  # "12" is not in every chunk
    assert top["weight"] > other["weight"] > 0
    # at most one score call per batch of 2 map prompts, for grounded answers only
    assert len(model.score_calls) <= -(-result["chunks"] // 2) and sum(model.score_calls) == other["votes"] + 1
    assert result["scored"] == other["votes"] + 1 and result["calls"] == result["chunks"]
    saved = json.loads((tmp_path / "out" / "result.json").read_text())
    assert saved["evidence"] == result["evidence"] and saved["weights"] == "scored"


def test_a_tie_is_reported_and_not_guessed(tmp_path):
    doc = document(tmp_path, ["The pass key is 11111.", "", "The pass key is 22222."])
    model = Model({"11111": "11111", "22222": "22222"}, odds={"11111": -1.0, "22222": -1.0})
    result = go(tmp_path, model, doc, chunk_tokens=20)
    assert result["answer"] is None and not result["found"] and "ties between '11111' and '22222'" in result["reason"]
    assert result["evidence"]["reduce"]["tie"]


def test_an_input_with_no_answer_says_so(tmp_path):
    result = go(tmp_path, Model({}), document(tmp_path, ["", "", ""]))
    assert result["answer"] is None and result["answer_text"] == "no answer found"
    assert result["reason"] == f"every one of the {result['chunks']} chunks answered NONE"


def test_a_needle_the_question_does_not_match_gives_no_answer(tmp_path):
    """The document holds key "red-fox-3"; the question asks about "blue-owl-1"; the model answers
    the value it sees anyway. The chunk never mentions the key asked about, so the value does not count."""
    doc = document(tmp_path, ["", 'The value of key "red-fox-3" is 12345.', ""])
    model = Model({"12345": 'The value of key "blue-owl-1" is 12345.'})
    result = go(tmp_path, model, doc, question='What is the value of key "blue-owl-1"?')
    assert result["answer"] is None and result["ungrounded"][0]["answer"] == "12345"
    assert "occurs in its chunk" in result["reason"]
    right = go(tmp_path / "b", model, doc, question='What is the value of key "red-fox-3"?')
    assert right["answer"] == "12345"


def test_an_engine_without_scores_counts_votes_unweighted_and_says_so(tmp_path):
    class NoScores(Model):
        score = Engine.score

    doc = document(tmp_path, ["The pass key is 11111.", "", "The pass key is 11111.", "The pass key is 22222."])
    result = go(tmp_path, NoScores({"11111": "11111", "22222": "22222"}), doc, chunk_tokens=20)
    assert result["answer"] == "11111" and result["weights"].startswith("unweighted: engine")


def test_list_items_are_grounded_one_by_one(tmp_path):
    doc = document(tmp_path, ["VAR A = 12345. Nothing else.", "VAR B = VAR A."])
    model = Model({"VAR A = 12345": "A = 12345, C = 999", "VAR B": "B = VAR A"})
    plan = Plan(steps=[Step(name="m", kind="map", answer="list", prompt="{{chunk}}\n\nList every assignment."),
                       Step(name="r", kind="reduce", answer="list", reads=["m"])])
    result = go(tmp_path, model, doc, plan=plan, kind="list", chunk_tokens=6)
    assert result["answer"] == ["A = 12345", "B = VAR A"] and result["ungrounded"][0]["answer"] == ["C = 999"]


def test_a_step_whose_inputs_found_nothing_is_not_sent(tmp_path):
    """vartrack's DAG: nothing extracted, so 'resolve' would only invent names; it is not called."""
    doc = document(tmp_path, ["", ""])
    model = Model({}, default="A = 5")  # 'A = 5' is in no chunk: ungrounded
    plan = Plan(instruction="Which variables hold 5?", steps=[
        Step(name="extract", kind="map", answer="list", prompt="{{chunk}}\n\nList every assignment."),
        Step(name="merge", kind="reduce", answer="list", reads=["extract"]),
        Step(name="resolve", answer="list", prompt="Assignments:\n{{merge}}\n\n{{instruction}}")])
    result = go(tmp_path, model, doc, plan=plan, kind="list")
    assert result["answer"] is None and result["calls"] == result["chunks"]  # the map calls only
    assert result["reason"].startswith("step 'resolve' had nothing to work from: merge found nothing (none of the")


def test_a_call_over_the_whole_input_is_grounded_too(tmp_path):
    doc = document(tmp_path, ["", ""])
    result = go(tmp_path, Model({}, default="The pass key is 1."), doc, plan="single", chunk_tokens=None)
    assert result["answer"] is None and "rerun with --no-ground" in result["reason"]


def test_plan_steps_that_cannot_be_grounded_are_rejected():
    m = {"name": "m", "kind": "map", "prompt": "{{chunk}} x"}
    with pytest.raises(PlanError, match=r"steps\[0\] \(m\): ground: answer kind 'number' cannot be grounded"):
        check_plan(Plan(steps=[Step(**m, answer="number", ground=True)]), {"default"})
    with pytest.raises(PlanError, match="only answers read from the input are grounded"):
        check_plan(Plan(steps=[Step(**m, answer="value"), Step(name="r", kind="reduce", answer="value",
                                                               reads=["m"], ground=True)]), {"default"})
    assert map_reduce("x", "value").steps[0].grounds() and not map_reduce("x", "number").steps[0].grounds()
    assert not Step(**m, answer="label", ground=False).grounds()
