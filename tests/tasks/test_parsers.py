"""Every built-in task's parser, on what models say: three answers that must parse (to the answer
given) and three that must not (unparseable, ``None``, so the report counts them). A task added to
the registry without a row here fails ``test_every_builtin_task_has_a_row``."""

from __future__ import annotations

import pytest

from ils.tasks import TASKS, get_task

FENCED = "```python\ndef f(x):\n    return x + 1\n```"
ENT = [{"type": "PER", "text": "Ann Lee"}, {"type": "LOC", "text": "Rome"}]

# task: ([(model says, parsed answer)] × 3, [model says that is unparseable] × 3)
TABLE: dict[str, tuple[list[tuple[str, object]], list[str]]] = {
    "nli": ([("The conclusion is a contradiction", "contradiction"),
             ("Entailment. The premise says the man sleeps.", "entailment"),
             ("The hypothesis contradicts the premise.", "contradiction")],
            ["To determine whether the given statement is entailed by the premise, we need to look at the "
             "details of both sentences and compare them carefully",
             "It could be entailment, neutral or contradiction depending on how you read it.",
             "The premise does not entail the hypothesis"]),
    "sentiment": ([("Positive.", "positive"), ("I think it is negative overall", "negative"),
                   ("**negative**", "negative")],
                  ["The review talks about the actors and the plot.", "",
                   "Let me decide whether this review is positive or negative by reading it closely."]),
    "classification": ([("sports", "sports"), ("The answer is: business", "business"),
                        ("Category: science.", "science")],
                       ["I am not sure.", "It is either sports or business.", "   "]),
    "ner": ([("PER: Ann Lee\nLOC: Rome", ENT), ("- PER: Ann Lee\n- LOC: Rome", ENT), ("none", [])],
            ["The sentence mentions a person and a city.", "Ann Lee is a person.", ""]),
    "qa": ([("Denver Broncos", "Denver Broncos"), ("Answer: 1912", "1912"), ('"Hymn for the Weekend"',
            '"Hymn for the Weekend"')],
           ["", "I don't know.", "The passage does not say who won."]),
    "relation": ([("Cause-Effect(e1,e2)", "Cause-Effect(e1,e2)"),
                  ("The relation is Member-Collection(e2,e1).", "Member-Collection(e2,e1)"), ("Other", "Other")],
                 ["Cause-Effect", "The two nouns are related.", "Friend-Enemy(e1,e2)"]),
    "summarization": ([("Amanda baked cookies.", "Amanda baked cookies."), ("  A short summary. ", "A short summary."),
                       ("TL;DR: rates hold", "TL;DR: rates hold")],
                      ["", "   \n ", "..."]),
    "translation": ([("Das Haus ist klein.", "Das Haus ist klein."), ("Bonjour", "Bonjour"), ("42", "42")],
                    ["", "\n", "?!"]),
    "dialogue": ([("Pepper.", "Pepper."), ("How about Miso?", "How about Miso?"), ("Yes", "Yes")],
                 ["", " ", "…"]),
    "self-instruct": ([("Paris", "Paris"), ("1. Eggs\n2. Milk", "1. Eggs\n2. Milk"), ("No.", "No.")],
                      ["", "\t", "---"]),
    "code": ([(FENCED, "def f(x):\n    return x + 1"), ("def f(x):\n    return x + 1", "def f(x):\n    return x + 1"),
              ("Here:\n```\nx = 1\n```", "x = 1")],
             ["", "Sure! I can help you write that function.", "```python\n```"]),
    "add": ([("93", "93"), ("93.", "93"), ('"93"', "93")], ["The answer is 93.", "ninety-three", "93\n94"]),
    "subtract": ([("7", "7"), ("-3", "-3"), ("`12`", "12")], ["7 apples", "seven", ""]),
    "multiply": ([("144", "144"), ("144.", "144"), ("'0'", "0")], ["12 x 12 = 144", "1.5", "many"]),
    "count_letter": ([("2", "2"), ("0", "0"), ("3.", "3")], ["two", "There are 2.", ""]),
    "count_words": ([("5", "5"), ("12", "12"), ('"6"', "6")], ["5 words", "five", "The sentence has 5 words."]),
    "max_number": ([("97", "97"), ("5.", "5"), ("`64`", "64")], ["The largest is 97", "97, 5", ""]),
    "extract_number": ([("1204", "1204"), ("36.", "36"), ('"7"', "7")], ["thirty-six", "The number is 36.", ""]),
    "extract_email": ([("ada.12@example.com", "ada.12@example.com"), ("ben_3@mail.org.", "ben_3@mail.org"),
                       ("`tom7@site.net`", "tom7@site.net")],
                      ["The email is ada@example.com", "ada at example dot com", ""]),
    "sort_numbers": ([("1, 4, 5", "1, 4, 5"), ("1,4,5", "1, 4, 5"), ("3", "3")],
                     ["1, 4 and 5", "[1, 4, 5]", "The sorted list is 1, 4, 5"]),
    "first_last": ([("apple, kiwi", "apple, kiwi"), ("cat,dog", "cat, dog"), ('"red, gold"', "red, gold")],
                   ["apple and kiwi", "The first is apple, the last is kiwi", "apple"]),
    "reverse_words": ([("world hello", "world hello"), ("c b a.", "c b a"), ("'x y'", "x y")],
                      ["", "Sure!\nworld hello", "..."]),
    "uppercase": ([("HELLO WORLD", "HELLO WORLD"), ("ABC.", "ABC"), ('"RED CAT"', "RED CAT")],
                  ["", "Here you go:\nHELLO", "!!!"]),
    "kv_to_json": ([('{"age": 30}', {"age": 30}), ('`{"a": "b"}`', {"a": "b"}), ('{"x": 1, "y": 2}.', {"x": 1, "y": 2})],
                   ["name=Ada", "age: 30", ""]),
}
LABELS = {"classification": ["business", "sports", "science"]}


def _task(name: str):
    task = get_task(name)
    return task.configure(labels=LABELS[name]) if name in LABELS else task


def test_every_builtin_task_has_a_row():
    assert set(TABLE) >= set(TASKS.names()), sorted(set(TASKS.names()) - set(TABLE))


@pytest.mark.parametrize("name", sorted(TABLE))
def test_answers_a_model_gives_parse(name):
    task = _task(name)
    for said, answer in TABLE[name][0]:
        parsed = task.parse(said)
        if name == "ner":
            parsed = [{"type": e["type"], "text": e["text"]} for e in parsed]
        assert parsed == answer, (name, said)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_what_is_no_answer_is_unparseable(name):
    task = _task(name)
    for said in TABLE[name][1]:
        assert task.parse(said) is None, (name, said)
