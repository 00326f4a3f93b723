"""Encoder task heads on a tiny random BERT: classification, NER (first sub-token labels, seqeval),
extractive QA (windows with stride, n-best decoding, SQuAD EM/F1), and bad input refused early."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from ils.config import HeadOptions, LoraOptions, TrainConfig
from ils.errors import ConfigError, TrainingError
from ils.train.loop import train

POS, NEG = ["good", "great", "fine", "lovely"], ["bad", "awful", "dull", "poor"]
NAMES, PLACES = ["peter", "mary", "johnson"], ["paris", "london", "berlinville"]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _sentiment(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = rng.choice(["pos", "neg"])
        word = rng.choice(POS if label == "pos" else NEG)
        rows.append({"text": f"{word} {rng.choice(['movie', 'film', 'plot'])}", "label": label})
    return rows


def _ner(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        name, place = rng.choice(NAMES), rng.choice(PLACES)
        rows.append({"tokens": [name, rng.choice(["lives", "works"]), "in", place, "."],
                     "tags": ["B-PER", "O", "O", "B-LOC", "O"]})
    return rows


def _cfg(model: Path, out: Path, task: str, train_file: Path, val: Path, **kw) -> TrainConfig:
    base = dict(model=str(model), data=str(train_file), validation=str(val), output=str(out), task=task,
                method="full", max_steps=40, batch_size=8, lr=3e-3, warmup_steps=2, eval_every=20,
                save_every=0, bf16=False, max_length=64)
    return TrainConfig(**{**base, **kw})


def test_sequence_classification_learns_and_reloads(tiny_bert, tmp_path):
    from ils.models.loading import load_run
    from ils.train.heads import get_head

    tr, va = _write(tmp_path / "tr.jsonl", _sentiment(64, 0)), _write(tmp_path / "va.jsonl", _sentiment(32, 1))
    cfg = _cfg(tiny_bert, tmp_path / "run", "sequence-classification", tr, va, max_steps=80)
    run = train(cfg)
    report = json.loads((run / "eval" / "head.json").read_text())
    assert report["validation"]["accuracy"] >= 0.9
    model, tok, _ = load_run(run)
    head = get_head(cfg.task)
    again = head.score(model, tok, head.read(va), cfg, ["neg", "pos"])
    assert again["accuracy"] == report["validation"]["accuracy"]


def test_lora_on_a_classification_head_reloads(tiny_bert, tmp_path):
    from ils.models.loading import load_run

    tr, va = _write(tmp_path / "tr.jsonl", _sentiment(32, 0)), _write(tmp_path / "va.jsonl", _sentiment(8, 1))
    run = train(_cfg(tiny_bert, tmp_path / "run", "sequence-classification", tr, va, method="lora",
                     max_steps=4, lr=1e-2, lora=LoraOptions(r=4, alpha=8)))
    assert (run / "adapter" / "adapter_config.json").is_file()
    model, _, info = load_run(run)
    assert model.config.num_labels == 2 and info["run"]["head"]["labels"] == ["neg", "pos"]


def _mean_logits(model, batch):
    """What a mean-pooled head must output: its classifier on the mask-weighted mean token state."""
    hidden = model.bert(**batch).last_hidden_state
    weights = batch["attention_mask"].unsqueeze(-1).float()
    return model.classifier((hidden * weights).sum(1) / weights.sum(1))


@pytest.mark.parametrize("method", ["full", "lora"])
def test_mean_pooling_trains_saves_and_reloads(tiny_bert, tmp_path, method):
    import torch

    from ils.models.loading import load_run

    tr, va = _write(tmp_path / "tr.jsonl", _sentiment(64, 0)), _write(tmp_path / "va.jsonl", _sentiment(32, 1))
    run = train(_cfg(tiny_bert, tmp_path / "run", "sequence-classification", tr, va, method=method,
                     max_steps=80, lora=LoraOptions(r=4, alpha=8), head=HeadOptions(pooling="mean")))
    assert json.loads((run / "eval" / "head.json").read_text())["validation"]["accuracy"] >= 0.9
    model, tok, info = load_run(run)
    assert info["run"]["head"]["pooling"] == "mean"
    batch = tok(["good movie", "an awful , dull and poor plot"], padding=True, return_tensors="pt")
    batch.pop("token_type_ids", None)
    with torch.no_grad():
        padded, alone = model(**batch).logits, model(**tok(["good movie"], return_tensors="pt")).logits
        expected = _mean_logits(model.get_base_model() if method == "lora" else model, batch)
    assert torch.allclose(padded, expected, atol=1e-5)
    assert torch.allclose(padded[0], alone[0], atol=1e-5)  # padding does not move the mean


def test_mean_pooling_refused_where_it_means_nothing(tiny_bert, tmp_path):
    tr = _write(tmp_path / "tr.jsonl", _ner(8, 0))
    with pytest.raises(ConfigError, match="pooling"):
        train(_cfg(tiny_bert, tmp_path / "run", "token-classification", tr, tr, head=HeadOptions(pooling="mean")))


def test_ner_labels_first_sub_token_and_scores_entities(tiny_bert, tmp_path):
    from ils.models.loading import load_tokenizer
    from ils.train.heads import get_head

    head, tok = get_head("token-classification"), load_tokenizer(tiny_bert)
    cfg = _cfg(tiny_bert, tmp_path / "run", "token-classification", tmp_path, tmp_path)
    labels = ["O", "B-LOC", "B-PER"]
    ids, lab, _ = head.encode([(["johnson", "in", "berlinville"], ["B-PER", "O", "B-LOC"])], tok, cfg, labels)[0]
    pieces = tok.convert_ids_to_tokens(ids)
    assert pieces == ["[CLS]", "john", "##son", "in", "berlin", "##ville", "[SEP]"]
    assert lab == [-100, 2, -100, 0, 1, -100, -100]

    tr, va = _write(tmp_path / "tr.jsonl", _ner(64, 0)), _write(tmp_path / "va.jsonl", _ner(16, 1))
    run = train(_cfg(tiny_bert, tmp_path / "run", "token-classification", tr, va, lr=1e-2))
    report = json.loads((run / "eval" / "head.json").read_text())["validation"]
    assert report["metric"].startswith("entity_f1") and report["f1"] >= 0.9


def _cased(n: int, seed: int) -> list[dict]:
    """The same words are a person when capitalised and plain words when not: only casing tells."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        name, cap = rng.choice(NAMES), rng.random() < 0.5
        rows.append({"tokens": [name.title() if cap else name, "works", "."],
                     "tags": ["B-PER" if cap else "O", "O", "O"]})
    return rows


def test_case_types_carry_capitals_past_an_uncased_tokenizer(tiny_bert, tmp_path):
    from ils.models.loading import load_tokenizer
    from ils.train.heads import get_head

    head, tok = get_head("token-classification"), load_tokenizer(tiny_bert)
    cfg = _cfg(tiny_bert, tmp_path / "run", "token-classification", tmp_path, tmp_path,
               head=HeadOptions(case_types=True))
    _, _, types = head.encode([(["Johnson", "in", "berlinville"], ["B-PER", "O", "O"])], tok, cfg, ["O", "B-PER"])[0]
    assert types == [0, 1, 1, 0, 0, 0, 0]  # [CLS] john ##son in berlin ##ville [SEP]
    tr, va = _write(tmp_path / "tr.jsonl", _cased(96, 0)), _write(tmp_path / "va.jsonl", _cased(32, 1))
    f1 = {}
    for cased in (False, True):
        run = train(_cfg(tiny_bert, tmp_path / f"run{cased}", "token-classification", tr, va, lr=1e-2,
                         max_steps=60, head=HeadOptions(case_types=cased)))
        f1[cased] = json.loads((run / "eval" / "head.json").read_text())["validation"]["f1"]
    assert f1[True] >= 0.9 > 0.75 > f1[False]


def test_case_types_refused_where_they_mean_nothing(tiny_bert, tmp_path):
    tr = _write(tmp_path / "tr.jsonl", _sentiment(8, 0))
    with pytest.raises(ConfigError, match="case_types"):
        train(_cfg(tiny_bert, tmp_path / "run", "sequence-classification", tr, tr, head=HeadOptions(case_types=True)))


def test_seqeval_counts_entities_not_o_tokens():
    from seqeval.metrics import f1_score

    gold = [["B-PER", "I-PER", "O", "O", "O", "O", "O", "B-LOC"]]
    pred = [["B-PER", "O", "O", "O", "O", "O", "O", "B-LOC"]]  # 7/8 tokens right, 1 of 2 entities
    assert f1_score(gold, pred) == pytest.approx(0.5)


def test_qa_windows_find_an_answer_past_the_first_window(tiny_bert, tmp_path):
    from ils.models.loading import load_tokenizer
    from ils.train.heads.qa import answer_tokens, normalize, token_f1, windows

    tok = load_tokenizer(tiny_bert)
    context = "the cat sat on the mat . " * 6 + "the dog ran in the park ."
    start = context.index("the park")
    rec = {"id": "q1", "question": "where did the dog run ?", "context": context,
           "answers": {"text": ["the park"], "answer_start": [start]}}
    cfg = _cfg(tiny_bert, tmp_path / "r", "extractive-qa", tmp_path, tmp_path, max_length=24,
               head=HeadOptions(doc_stride=8))
    enc = windows(tok, [rec], cfg)
    spans = [answer_tokens(enc, i, start, start + 8) for i in range(len(enc["input_ids"]))]
    assert len(spans) > 2 and spans[0] == (0, 0)
    i, (s, e) = next((i, sp) for i, sp in enumerate(spans) if sp != (0, 0))
    offsets = enc["offset_mapping"][i]
    assert context[offsets[s][0]:offsets[e][1]] == "the park"
    assert normalize("The  Park!") == "park" and token_f1("in the park", "park") == pytest.approx(2 / 3)


def test_qa_all_answers_trains_on_each_distinct_gold_span(tiny_bert, tmp_path):
    from ils.models.loading import load_tokenizer
    from ils.train.heads import get_head
    from ils.train.heads.qa import windows

    tok = load_tokenizer(tiny_bert)
    context = "the dog ran in the big park . the cat sat on the mat ."
    golds = ["the big park", "big park", "park", "big park"]  # one repeat, as SQuAD annotators do
    rec = {"id": "q", "question": "where did the dog run ?", "context": context,
           "answers": {"text": golds, "answer_start": [context.index(g) for g in golds]}}
    head = get_head("extractive-qa")
    spans = {}
    for flag in (False, True):
        cfg = _cfg(tiny_bert, tmp_path / "r", "extractive-qa", tmp_path, tmp_path, max_length=48,
                   head=HeadOptions(doc_stride=8, all_answers=flag))
        items = head.encode([rec], tok, cfg, None)
        spans[flag] = [tuple(lab) for _, lab, _ in items]
    assert len(spans[False]) == 1 and len(spans[True]) == 3 and spans[False][0] in spans[True]
    offsets = windows(tok, [rec], cfg)["offset_mapping"][0]
    texts = [context[offsets[s][0]:offsets[e][1]] for s, e in spans[True]]
    assert texts == ["the big park", "big park", "park"]


def test_qa_marginal_loss_keeps_one_item_per_window_and_sums_gold_probabilities(tiny_bert, tmp_path):
    import torch

    from ils.models.loading import load_tokenizer
    from ils.train.heads import get_head
    from ils.train.heads.qa import marginal_nll

    tok = load_tokenizer(tiny_bert)
    context = "the dog ran in the big park . the cat sat on the mat ."
    golds = ["the big park", "big park", "park", "big park"]
    rec = {"id": "q", "question": "where did the dog run ?", "context": context,
           "answers": {"text": golds, "answer_start": [context.index(g) for g in golds]}}
    head = get_head("extractive-qa")
    opts = {"doc_stride": 8, "all_answers": True}
    each = head.encode([rec], tok, _cfg(tiny_bert, tmp_path / "r", "extractive-qa", tmp_path, tmp_path,
                                        max_length=48, head=HeadOptions(**opts)), None)
    marg = head.encode([rec], tok, _cfg(tiny_bert, tmp_path / "r", "extractive-qa", tmp_path, tmp_path,
                                        max_length=48, head=HeadOptions(**opts, answer_loss="marginal")), None)
    assert len(each) == 3 and len(marg) == 1 and marg[0][0] == each[0][0]
    (s1, e1), (s2, e2), (s3, e3) = [lab for _, lab, _ in each]
    assert e1 == e2 == e3 and marg[0][1] == [s1, e1, s2, -100, s3, -100]  # each position counted once
    logits = torch.randn(2, 48)
    gold = torch.tensor([[s1, s2, s3], [0, -100, -100]])
    loss, rows = marginal_nll(logits, gold)
    p = logits.softmax(-1)
    expected = -torch.log(p[0, [s1, s2, s3]].sum()) - torch.log(p[1, 0])
    assert rows == 2 and loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert marginal_nll(logits, torch.tensor([[-100], [-100]]))[1] == 0


@pytest.mark.parametrize("loss", ["each", "marginal"])
def test_qa_trains_and_reports_squad_metrics(tiny_bert, tmp_path, loss):
    rng = random.Random(0)
    rows = []
    for k in range(48):
        animal, place = rng.choice(["cat", "dog"]), rng.choice(["park", "house", "city"])
        context = f"the {animal} ran in the {place} . the mat is at the house ."
        golds = [f"the {place}", place]  # two annotators, two spans
        rows.append({"id": str(k), "question": f"where did the {animal} run ?", "context": context,
                     "answers": {"text": golds, "answer_start": [context.index(g) for g in golds]}})
    tr, va = _write(tmp_path / "tr.jsonl", rows[:40]), _write(tmp_path / "va.jsonl", rows[40:])
    run = train(_cfg(tiny_bert, tmp_path / "run", "extractive-qa", tr, va, lr=1e-2, max_steps=60,
                     head=HeadOptions(doc_stride=16, all_answers=True, answer_loss=loss)))
    report = json.loads((run / "eval" / "head.json").read_text())["validation"]
    assert report["f1"] >= 0.75 and 0 <= report["exact_match"] <= 1


def test_bad_head_input_fails_before_training(tiny_bert, tmp_path):
    tr = _write(tmp_path / "tr.jsonl", _sentiment(16, 0))
    va = _write(tmp_path / "va.jsonl", [{"text": "the movie was good .", "label": "neutral"}])
    with pytest.raises(ConfigError, match="needs a causal LM"):
        train(_cfg(tiny_bert, tmp_path / "a", "sequence-classification", tr, tr, method="prefix"))
    with pytest.raises(TrainingError, match=r"labels \['neutral'\] are not in the head's label set"):
        train(_cfg(tiny_bert, tmp_path / "b", "sequence-classification", tr, va))
    with pytest.raises(ConfigError, match="longer than the model's 64 positions"):
        train(_cfg(tiny_bert, tmp_path / "c", "sequence-classification", tr, tr, max_length=128))
    with pytest.raises(ConfigError, match="unknown method"):
        train(_cfg(tiny_bert, tmp_path / "d", "sequence-classification", tr, tr, method="nope"))
    assert not any((tmp_path / d / "ils.json").exists() for d in "abcd")


def test_squad_halves_split_by_article(tmp_path):
    from typer.testing import CliRunner

    from ils.cli import app

    para = lambda t, n: {"context": f"{t} is a place.", "qas": [
        {"id": f"{t}{i}", "question": f"What is {t}?", "answers": [{"text": t, "answer_start": 0}]} for i in range(n)]}
    src = tmp_path / "squad.json"
    src.write_text(json.dumps({"data": [{"title": t, "paragraphs": [para(t, 2)]} for t in "ABCD"]}))
    result = CliRunner().invoke(app, ["data", "squad-halves", str(src), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    read = lambda name: [json.loads(x) for x in (tmp_path / "out" / name).read_text().splitlines()]
    train_, test_ = read("train.jsonl"), read("test.jsonl")
    assert {r["title"] for r in train_} == {"A", "B"} and {r["title"] for r in test_} == {"C", "D"}
    assert len(train_) == len(test_) == 4 and train_[0]["answers"]["text"] == ["A"]
