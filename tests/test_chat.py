"""The chat template: labels cover exactly the response + EOS; mismatched templates are refused."""

from __future__ import annotations

import pytest

from ils.errors import TrainingError
from ils.models.chat import IGNORE, check_template, encode_example, render_prompt
from ils.models.loading import load_tokenizer
from ils.records import Example
from ils.train.data import tokenize


@pytest.fixture
def tok(tiny_llama):
    return load_tokenizer(tiny_llama)


def test_labels_cover_exactly_response_and_eos(tok):
    ex = Example.from_alpaca("Add 2 and 3.", "", "5 and more")
    ids, labels = encode_example(tok, ex, 128)
    prompt = tok(render_prompt(tok, ex.prompt_messages), add_special_tokens=False).input_ids
    answer = tok("5 and more", add_special_tokens=False).input_ids
    assert ids == prompt + answer + [tok.eos_token_id]
    assert labels == [IGNORE] * len(prompt) + answer + [tok.eos_token_id]


def test_eos_is_trained_even_when_it_is_the_pad_token(tok):
    assert tok.pad_token_id == tok.eos_token_id
    _, labels = encode_example(tok, Example.from_alpaca("hi", "", "ok"), 64)
    assert labels[-1] == tok.eos_token_id


def test_truncation_keeps_the_answer(tok):
    ex = Example.from_alpaca("word " * 200, "", "short")
    ids, labels = encode_example(tok, ex, 32)
    assert len(ids) == 32 and labels[-1] == tok.eos_token_id
    assert sum(label != IGNORE for label in labels) == len(tok("short", add_special_tokens=False).input_ids) + 1


def test_template_mismatch_is_refused(tok):
    tok.chat_template = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                         "{% if add_generation_prompt %}assistant says: {% endif %}")
    with pytest.raises(TrainingError, match="renders a training conversation differently"):
        check_template(tok, Example.from_alpaca("hi", "", "ok"))


def test_all_masked_is_refused(tok):
    ex = Example.from_alpaca("hi", "", "ok")
    with pytest.raises(TrainingError, match="every label is masked"):
        tokenize([ex], tok, max_length=1)
