"""The long-input suite: deterministic from a seed, streamed, answers exact and present in the text."""

from __future__ import annotations

import re

import pytest

from ils.errors import ConfigError
from ils.tasks.longinput import TASKS, make_case


@pytest.mark.parametrize("task", TASKS)
def test_cases_are_reproducible_and_hold_their_answer(task, tmp_path):
    a, b = make_case(task, 5000, seed=4), make_case(task, 5000, seed=4)
    text = a.write(tmp_path / "a.txt").read_text()
    assert text == "".join(p + "\n\n" for p in b.paragraphs())
    assert 0.8 < len(text) / 4.3 / 5000 < 1.25  # about the asked length
    if task in ("passkey", "kv"):
        assert str(a.answer) in text and a.check(a.answer) and not a.check("12")
    if task == "count":
        assert text.count("apple") == a.answer and a.check(str(a.answer))
    if task == "vartrack":
        assert len(re.findall(r"VAR \w = ", text)) == 8 and a.check(", ".join(reversed(a.answer)))
    assert make_case(task, 5000, seed=5).paragraphs().__next__() != next(a.paragraphs()) or task == "count"


def test_needles_land_at_their_depth_at_any_length():
    case = make_case("passkey", 1_000_000, seed=0)
    depth = case.needles[0][0]
    seen = 0
    for p in case.paragraphs():
        if "pass key is" in p:
            break
        seen += len(p) + 2
    assert abs(seen / (1_000_000 * 4.3) - depth) < 0.01


def test_unknown_task_and_tiny_length_are_errors():
    with pytest.raises(ConfigError, match="known: passkey"):
        make_case("nope", 1000)
    with pytest.raises(ConfigError, match="at least 200"):
        make_case("kv", 10)
