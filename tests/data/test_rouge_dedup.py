"""The fast ROUGE-L agrees with rouge-score; exact and near-duplicate removal find what they should."""

import random

from rouge_score import rouge_scorer

from ils.data.dedup import exact_duplicates, near_duplicates
from ils.data.normalize import clean, match_key
from ils.data.rouge import rouge_l, tokens


def test_rouge_l_matches_rouge_score():
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    rng = random.Random(0)
    vocab = "the a cat dog sat on mat big red run of and to x1 Y2".split()
    for _ in range(300):
        a = " ".join(rng.choices(vocab, k=rng.randint(1, 25)))
        b = " ".join(rng.choices(vocab, k=rng.randint(1, 25)))
        assert abs(scorer.score(a, b)["rougeL"].fmeasure - rouge_l(tokens(a), tokens(b))) < 1e-9


def test_normalize():
    assert clean("a\u00a0b  \r\nc\x00\n\n\n\nd ") == "a b\nc\n\nd"
    assert match_key("Hello,   WORLD!") == "hello world"


def test_exact_duplicates_ignore_case_and_punctuation():
    assert exact_duplicates(["Hello world", "other", "hello, world!"]) == {2: 0}


def test_near_duplicates_short_and_long():
    short = ["Write a poem about the sea and the wind at night.",
             "Write a poem about the sea and the wind at dawn.",
             "Explain how photosynthesis works in simple terms."]
    assert set(near_duplicates(short)) == {1}
    rng = random.Random(1)
    doc = " ".join(rng.choice(["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta"]) + str(i % 50)
                   for i in range(200))
    edited = doc.replace("alpha", "omega", 5)
    assert set(near_duplicates([doc, edited, "unrelated short text"])) == {1}


def test_near_duplicates_respect_scope():
    texts = ["When was it built?", "When was it built?"]
    assert near_duplicates(texts, ["ctx1", "ctx2"]) == {}
    assert set(near_duplicates(texts, ["ctx1", "ctx1"])) == {1}
