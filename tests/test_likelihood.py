"""Likelihood scoring equals a per-option manual computation, and the runner reports it beside parsing."""

from __future__ import annotations

import pytest
import torch

from ils.evaluate.likelihood import choose, option_logprobs
from ils.evaluate.runner import evaluate
from ils.infer.engine import Engine, Sampling
from ils.records import Example
from ils.tasks import TASKS, Task


class Sentiment(Task):
    name, metric, choices = "test_sentiment", "classification", ("negative", "positive")

    def parse(self, text):
        words = [w for w in ("negative", "positive") if w in text.lower()]
        return words[0] if len(words) == 1 else None


@pytest.fixture(scope="module")
def engine(tiny_llama):
    TASKS.add(Sentiment())
    yield Engine.load(str(tiny_llama), batch_size=3)
    TASKS.remove("test_sentiment")


def manual(model, tok, prompt: str, option: str) -> float:
    ctx = tok(prompt, add_special_tokens=False).input_ids
    cont = tok(option, add_special_tokens=False).input_ids
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ctx + cont])).logits[0]
    lp = torch.log_softmax(logits, -1)
    return sum(float(lp[len(ctx) - 1 + j, t]) for j, t in enumerate(cont))


def test_batched_option_logprobs_equal_manual(engine):
    prompts = ["Add 2 and 3.", "hello world, what is 12 plus 7? Sort these numbers", "x"]
    options = [("5", "six", "The answer is 42."), ("hello", "19"), ("a", "b c", "0123")]
    got = option_logprobs(engine.model, engine.tok, prompts, options, batch_size=3)
    for p, opts, scores in zip(prompts, options, got):
        assert scores == pytest.approx([manual(engine.model, engine.tok, p, o) for o in opts], abs=1e-4)
    assert choose([-3.0, -1.0, -2.0]) == 1


def test_runner_reports_parsing_and_likelihood_with_unparseable_counts(engine, tmp_path):
    texts = ["a great film", "dull and long", "fine", "awful"]
    gold = ["positive", "negative", "positive", "negative"]
    test = [
        Example.from_alpaca(f"Sentiment of: {t}", "", g, task="test_sentiment", answer=g)
        for t, g in zip(texts, gold)
    ]
    report = evaluate(engine, test, tmp_path, Sampling(max_new_tokens=4), progress=False)
    r = report["tasks"]["test_sentiment"]
    assert r["n"] == 4 and 0 <= r["unparseable"] <= 4
    assert r["score"] == r["accuracy"]  # parsed accuracy is the headline
    assert "overall" not in report  # one task: its row is the whole story
    # likelihood picks the option with the larger manual log-prob
    import json

    from ils.models.chat import render_prompt

    rows = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    for ex, row in zip(test, rows):
        prompt = render_prompt(engine.tok, ex.prompt_messages)
        s = [manual(engine.model, engine.tok, prompt, o) for o in Sentiment.choices]
        assert row["ll_parsed"] == Sentiment.choices[choose(s)]
        assert row["unparseable"] == (Sentiment().parse(row["output"]) is None)
    assert r["likelihood"]["accuracy"] == sum(r["ll_correct"] for r in rows) / 4


def test_option_logprobs_through_a_peft_adapter(engine):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    cfg = LoraConfig(r=2, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    model = get_peft_model(engine.model, cfg).eval()
    try:
        prompts, options = ["Add 2 and 3.", "hello"], [("5", "The answer is 42."), ("world", "0123 x")]
        got = option_logprobs(model, engine.tok, prompts, options, batch_size=2)
        for p, opts, scores in zip(prompts, options, got):
            assert scores == pytest.approx([manual(model, engine.tok, p, o) for o in opts], abs=1e-4)
    finally:
        model.unload()
