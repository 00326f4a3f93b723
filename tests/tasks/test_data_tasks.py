"""Every built-in data task: its templates, its reader on a tiny file, and its parser's round trip."""

import json

import pytest

from ils.errors import RecordError
from ils.tasks import get_task, load_builtins
from ils.tasks.ner import spans_from_tags
from ils.tasks.templates import render_template

DATA_TASKS = ["classification", "sentiment", "nli", "ner", "qa", "summarization", "translation",
              "dialogue", "code"]
INVERTIBLE = set(DATA_TASKS) - {"dialogue"}


def write_raw(tmp_path, name):
    """A two-record raw file in the task's usual format; returns (path, options)."""
    p = tmp_path / name
    if name in ("classification", "sentiment"):
        p = p.with_suffix(".tsv")
        if name == "sentiment":
            p.write_text("sentence\tlabel\ngreat film \t1\nawful film \t0\n")
            return p, {}
        p.write_text("text\tlabel\nstocks fell\tbusiness\nthe team won\tsports\n")
        return p, {"labels": ["business", "sports"]}
    p = p.with_suffix(".jsonl")
    rows = {
        "nli": [{"premise": "A man sleeps.", "hypothesis": "A man is awake.", "label": 2},
                {"premise": "A dog runs.", "hypothesis": "An animal moves.", "label": "entailment"}],
        "summarization": [{"document": "Long text about rain. It rained all day.", "summary": "It rained."}],
        "translation": [{"source": "Good morning", "target": "Bonjour"}],
        "dialogue": [{"turns": ["Hi", "Hello! How can I help?", "Tell me a joke", "Why did the chicken..."]}],
        "code": [{"instruction": "Add two numbers.", "solution": "def add(a, b):\n    return a + b",
                  "tests": ["assert add(1, 2) == 3"]}],
    }
    if name == "ner":
        p = p.with_suffix(".txt")
        p.write_text("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\n"
                     "call NN I-NP O\n\nPeter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n")
        return p, {}
    if name == "qa":
        p = p.with_suffix(".json")
        ctx = "Paris is the capital of France."
        p.write_text(json.dumps({"data": [{"title": "T", "paragraphs": [{"context": ctx, "qas": [
            {"id": "a", "question": "What is the capital of France?",
             "answers": [{"text": "Paris", "answer_start": 0}]}]}]}]}))
        return p, {}
    p.write_text("".join(json.dumps(r) + "\n" for r in rows[name]))
    return p, {}


@pytest.mark.parametrize("name", DATA_TASKS)
def test_task_declares_templates_fields_and_metric(name):
    task = get_task(name)
    assert len(task.templates) >= 5 and task.input_fields and task.metric
    styles = {t.style for t in task.templates}
    assert {"question", "command"} <= styles
    assert ("inverted" in styles) == (name in INVERTIBLE)
    assert len({t.name for t in task.templates}) == len(task.templates)


@pytest.mark.parametrize("name", DATA_TASKS)
def test_reader_and_round_trip(tmp_path, name):
    path, opts = write_raw(tmp_path, name)
    task = get_task(name).configure(**opts)
    records = list(task.read(path))
    assert records and not any(isinstance(r, RecordError) for r in records), records
    for rec in records:
        for tpl in task.templates:
            system, user, target = render_template(tpl, task.variables(rec.fields))
            assert user and target
            if not tpl.inverted:
                assert task.roundtrip(target, rec.fields), (tpl.name, target)


def test_classification_labels_have_options_template():
    assert any(t.style == "options" for t in get_task("sentiment").templates)


def test_iob1_and_iob2_give_the_same_spans():
    iob2 = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC"]
    iob1 = ["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-LOC"]
    assert spans_from_tags(iob2) == spans_from_tags(iob1) == [(0, 2, "PER"), (3, 4, "LOC"), (4, 6, "LOC")]


def test_ner_parse_locates_repeated_entities():
    ner = get_task("ner")
    tokens = "Germany beat Germany B in Germany".split()
    parsed = ner.parse("LOC: Germany\nORG: Germany B\n- LOC: Germany\nnonsense line")
    spans = [(e["start"], e["end"], e["type"]) for e in ner.locate(parsed, tokens)]
    assert spans == [(0, 1, "LOC"), (2, 4, "ORG"), (5, 6, "LOC")]
    assert ner.parse("none") == [] and ner.parse("None.") == []
    assert ner.parse("The sentence talks about football.") is None  # unparseable, not "no entities"


def test_classification_parse_maps_free_text_to_a_label():
    s = get_task("sentiment")
    assert s.parse("Positive.") == "positive"
    assert s.parse("I think it is negative overall") == "negative"


def test_code_parse_extracts_fenced_block():
    assert get_task("code").parse("Here:\n```python\nx = 1\n```\nDone") == "x = 1"


def test_conll_wrong_column_count_names_the_line(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_text("EU NNP B-NP B-ORG\nrejects VBZ O\n")
    (err,) = list(get_task("ner").read(p))
    assert str(err) == f"{p}:2: columns: expected 4 columns, found 3"


def test_squad_answer_not_at_offset(tmp_path):
    p = tmp_path / "q.json"
    p.write_text(json.dumps({"data": [{"title": "T", "paragraphs": [{"context": "abc def", "qas": [
        {"id": "x", "question": "q?", "answers": [{"text": "def", "answer_start": 1}]}]}]}]}))
    (err,) = list(get_task("qa").read(p))
    assert "data[0].paragraphs[0].qas[0].answers[0]" in str(err) and "not at offset 1" in str(err)


def test_squad_jsonl_rows_read_like_squad_json(tmp_path):
    p = tmp_path / "q.jsonl"
    rows = [{"id": "a", "title": "T", "question": "Who ran?", "context": "Bob ran.",
             "answers": {"text": ["Bob"], "answer_start": [0]}},
            {"instruction": "not a SQuAD row", "output": "x"}]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    rec, err = list(get_task("qa").read(p))
    assert (rec.fields["answer"], rec.fields["answer_start"], rec.line, rec.ref) == ("Bob", 0, 1, "a")
    assert str(err).startswith(f"{p}:2: answers: expected {{question, context, answers")


def test_squad_layout_errors_and_empty_files_stop_the_file(tmp_path):
    p = tmp_path / "q.json"
    p.write_text('{"data": [{"paragraphs": [{"context": "c"}]}]}')
    layout = r"q.json: data: not SQuAD's layout \(data\[0\].paragraphs\[0\] has no 'qas'"
    with pytest.raises(RecordError, match=layout):
        list(get_task("qa").read(p))
    p.write_text('{"data": []}')
    with pytest.raises(RecordError, match=r"q.json: file: no questions in it"):
        list(get_task("qa").read(p))
    c = tmp_path / "e.txt"
    c.write_text("\n\n")
    with pytest.raises(RecordError, match=r"e.txt: file: no sentences in it"):
        list(get_task("ner").read(c))


def test_unknown_label_and_missing_column(tmp_path):
    p = tmp_path / "s.tsv"
    p.write_text("sentence\tlabel\nok film\t7\n")
    (err,) = list(get_task("sentiment").read(p))
    assert str(err) == (f"{p}:2: label: unknown label '7'; known: negative, positive (map raw values with "
                        "`label_map:` or set `labels:` in the source's options)")
    c = tmp_path / "c.csv"
    c.write_text("sentence,score\nok,1\n")
    with pytest.raises(RecordError, match=r"c.csv:1: label: no such column \(the header has: sentence, score\); "
                       r"map your column with `label_column:`"):
        list(get_task("sentiment").read(c))


def test_unknown_task_lists_known_ones():
    load_builtins()
    with pytest.raises(Exception, match="unknown task 'nope'; known: .*sentiment"):
        get_task("nope")


def test_check_compares_parsed_output_with_stored_answer(tmp_path):
    for name in DATA_TASKS:
        path, opts = write_raw(tmp_path, name)
        task = get_task(name).configure(**opts)
        rec = next(iter(task.read(path)))
        tpl = next(t for t in task.templates if not t.inverted)
        target = render_template(tpl, task.variables(rec.fields))[2]
        assert task.check(target, task.answer(rec.fields)), name
