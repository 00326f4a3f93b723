"""The long-input suite on real text: pools and their shares, cases deterministic and exact, needles
where they belong, and the chunk adapter's data never drawn from an evaluation haystack."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prose import prose_pool, write_prose

from ils.errors import ConfigError
from ils.infer.plans import fill, map_reduce
from ils.tasks.haystack import CHARS_PER_TOKEN, Pool, detokenize, load_pool, share_of, text_key
from ils.tasks.longinput import PASSKEY, TASKS, make_case, squad_questions, suite
from ils.tasks.longtrain import chunk_examples

DATA = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"public data folder {DATA} is absent (../shared/data)")
EXACT = tuple(t for t in TASKS if t != "qa")


def words(text: str) -> int:
    return len(text.split())


def map_prompt(chunk: str, instruction: str, kind: str) -> str:
    return fill(map_reduce(instruction, kind).steps[0].prompt, {"chunk": chunk, "instruction": instruction})


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    return prose_pool(tmp_path_factory.mktemp("prose")).share("eval")


@pytest.mark.parametrize("task", EXACT)
def test_cases_are_reproducible_and_hold_their_answer_once(task, pool, tmp_path):
    a, b = make_case(task, 5000, seed=4, pool=pool), make_case(task, 5000, seed=4, pool=pool)
    text = a.write(tmp_path / "a.txt").read_text()
    assert text == "".join(p + "\n\n" for p in b.paragraphs())
    assert 0.9 < len(text) / CHARS_PER_TOKEN / 5000 < 1.2  # about the asked length
    assert all(n.text in text for n in a.needles)  # each needle whole: no decoy between its sentences
    if task in ("passkey", "kv"):
        assert text.count(str(a.answer)) == 1 and a.check(a.answer) and not a.check("12")
    if task == "passkey":
        assert sum(d.split("{")[0] in text for d in ("The locker", "The invoice", "Her ticket", "The room code",
                                                     "The order", "Call extension", "The parcel", "The serial")) == 3
    if task == "kv":
        assert len(re.findall(r'"\w+-\w+-\d"', text)) == 4 and text.count(a.instruction.split('"')[1]) == 1
    if task == "count":
        place = a.instruction.split("the ")[-1].rstrip("?")
        assert text.count(place) == a.answer and a.check(str(a.answer))
    if task == "vartrack":
        assert len(re.findall(r"VAR \w = ", text)) == 8 and a.check(", ".join(reversed(a.answer)))
    assert next(make_case(task, 5000, seed=5, pool=pool).paragraphs()) != next(a.paragraphs())


def test_needle_wording_and_depth_vary_with_the_seed(pool):
    cases = [make_case("passkey", 4000, seed=s, pool=pool) for s in range(12)]
    assert all(n.text in "".join(c.paragraphs()) for c in cases for n in c.needles)
    wordings = {re.sub(r"\d{5}", "N", c.needles[0].text) for c in cases}
    depths = [c.needles[0].depth for c in cases]
    assert len(wordings) >= 4 and max(depths) - min(depths) > 0.5


def test_needles_land_at_their_depth_even_past_the_pool(pool):
    case = make_case("passkey", 1_000_000, seed=0, pool=pool)
    assert case.repeats()
    key, seen = case.answer, 0
    for p in case.paragraphs():
        if key in p:
            break
        seen += len(p) + 2
    assert abs(seen / (1_000_000 * CHARS_PER_TOKEN) - case.needles[0].depth) < 0.01


def test_paragraphs_that_mention_the_question_are_left_out(tmp_path):
    path = write_prose(tmp_path / "t.txt", 60)
    path.write_text(path.read_text() + "\n\nAn old pass key was 11111 once.\n\nVAR Q = 3 in code.\n")
    pool = load_pool(path)
    for task, banned in (("passkey", "11111"), ("vartrack", "VAR Q = 3")):
        text = "".join(make_case(task, 20_000, seed=1, pool=pool).paragraphs())
        assert text.count("Tobias") > 5 and banned not in text


def test_a_user_text_file_is_a_pool_and_bad_files_are_clear_errors(tmp_path):
    pool = load_pool(write_prose(tmp_path / "book.txt", 200))
    assert len(pool.paragraphs) == 200 and pool.paragraphs[0].source == "file:book.txt:0"
    (tmp_path / "x.bin").write_bytes(bytes(range(256)) * 8)
    with pytest.raises(ConfigError, match="binary"):
        load_pool(tmp_path / "x.bin")
    (tmp_path / "empty.txt").write_text("\n \n")
    with pytest.raises(ConfigError, match="no paragraphs"):
        load_pool(tmp_path / "empty.txt")
    (tmp_path / "tiny.txt").write_text("One short paragraph only.")
    empty_side = "eval" if share_of("One short paragraph only.") == "train" else "train"
    with pytest.raises(ConfigError, match="share is empty"):
        load_pool(tmp_path / "tiny.txt").share(empty_side)
    with pytest.raises(ConfigError, match="no such data folder"):
        load_pool(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="known: passkey"):
        make_case("nope", 1000, pool=pool)
    with pytest.raises(ConfigError, match="SQuAD questions"):
        make_case("qa", 1000, pool=pool)


def test_shares_partition_the_pool_by_text(pool, tmp_path):
    full = prose_pool(tmp_path)
    train, evaluation = full.share("train"), full.share("eval")
    assert len(train.paragraphs) + len(evaluation.paragraphs) == len(full.paragraphs)
    assert not train.keys() & evaluation.keys() and 0.1 < len(train.paragraphs) / len(full.paragraphs) < 0.4


def _no_reuse(full: Pool, cases, examples) -> None:
    evaluation = full.share("eval")
    by_source = {p.source: text_key(p.text) for p in full.paragraphs}
    trained = {s for e in examples for s in e.meta["paragraphs"]}
    used = {s for c in cases for s in c.sources()}
    assert trained and used and not trained & used
    assert not {by_source[s] for s in trained} & evaluation.keys()
    assert {by_source[s] for s in used} <= evaluation.keys()


def test_the_adapter_data_never_reuses_an_evaluation_paragraph(tmp_path):
    full = prose_pool(tmp_path)
    examples = chunk_examples(full, 60, 300, words, map_prompt, seed=0)
    _no_reuse(full, suite([3000, 20_000], full.share("eval"), EXACT, seeds=2), examples)
    shapes = {e.meta["shape"] for e in examples}
    answers = [e.response for e in examples]
    assert shapes == {"positive", "hard", "plain"} and 0.3 < answers.count("NONE") / len(answers) < 0.8
    keys = [e for e in examples if e.task == "long_passkey" and e.response != "NONE"]
    assert keys and all(any(w.format(k=e.response) in e.instruction for w in PASSKEY) for e in keys)
    hard = [e for e in examples if e.meta["shape"] == "hard" and e.task == "long_kv"]
    assert hard and all(e.response == "NONE" and 'key "' in e.instruction for e in hard)


def test_the_adapter_data_generator_refuses_a_pool_whose_shares_overlap(tmp_path, monkeypatch):
    full = prose_pool(tmp_path)
    monkeypatch.setattr(Pool, "share", lambda self, which: self)  # a broken split: train == eval
    with pytest.raises(ConfigError, match="reuse an evaluation paragraph"):
        chunk_examples(full, 5, 300, words, map_prompt)


def test_detokenize_conll_tokens():
    assert detokenize(["Germany", "'s", "call", "to", "(", "boycott", ")", '"', "lamb", '"', ",", "4.5", "%", "of", "$", "12", "."]) == \
        "Germany's call to (boycott) \"lamb\", 4.5% of $12."


@pytest.mark.data
@needs_data
def test_real_text_pool_cases_and_disjoint_adapter_data():
    full = load_pool(DATA)
    evaluation = full.share("eval")
    sources = {p.source.split(":")[0] for p in evaluation.paragraphs}
    assert sources == {"squad", "conll", "semeval"} and evaluation.chars() > 3_000_000
    assert all(p.held for p in full.paragraphs if p.source.startswith("squad"))
    assert not any(p.source.startswith("squad") for p in full.share("train").paragraphs)
    questions = squad_questions(DATA)
    cases = suite([8000], evaluation, TASKS, seeds=2, questions=questions)
    for case in cases:
        text = "\n\n".join(case.paragraphs())
        if case.task == "qa":
            assert case.gold_paragraph in text and any(a in case.gold_paragraph for a in case.answer)
        elif case.task in ("passkey", "kv"):
            assert text.count(case.answer) == 1
    assert not make_case("passkey", 64_000, pool=evaluation).repeats()
    assert make_case("passkey", 1_000_000, pool=evaluation).repeats()
    count = lambda t: len(t) // 4
    _no_reuse(full, cases, chunk_examples(full, 40, 512, count, map_prompt, seed=1))
