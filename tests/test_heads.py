"""Encoder heads on a tiny random BERT, trained from `ils data build` folders and scored by the same
evaluator as generative runs: sequence (sentiment), token (NER: first sub-token labels, seqeval through
the ner task), span (QA windows, n-best decoding, SQuAD EM/F1), and bad input refused before anything
is created."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from ils.config import EvalOptions, HeadOptions, LoraOptions, TrainConfig
from ils.data.build import build_dataset
from ils.errors import ConfigError, TrainingError
from ils.train.loop import train

POS, NEG = ["good", "great", "fine", "lovely"], ["bad", "awful", "dull", "poor"]
NAMES, PLACES = ["peter", "mary", "johnson"], ["paris", "london", "berlinville"]


def folder(tmp_path: Path, task: str, train_file: Path, val_file: Path, name: str = "ds", **options) -> Path:
    """A dataset folder: ``train_file`` in train, ``val_file`` in validation and in test."""
    src = lambda path, split, n: {"task": task, "path": str(path), "split": split, "name": n,  # noqa: E731
                                  "options": options}
    sources = [src(train_file, "train", "tr"), src(val_file, "validation", "va"), src(val_file, "test", "te")]
    cfg = {"sources": sources,
           "splits": {"train": 1.0, "validation": 0.0, "test": 0.0}, "dedup": {"exact": False, "near": False}}
    return build_dataset(cfg, tmp_path / name, progress=False)


def sentiment_tsv(path: Path, n: int, seed: int, labels=("0", "1")) -> Path:
    rng = random.Random(seed)
    rows = ["sentence\tlabel"]
    for _ in range(n):
        label = rng.choice(labels)
        word = rng.choice(NEG if label == "0" else POS)
        rows.append(f"{word} {rng.choice(['movie', 'film', 'plot'])}\t{label}")
    path.write_text("\n".join(rows) + "\n")
    return path


def conll(path: Path, sentences: list[list[tuple[str, str]]]) -> Path:
    path.write_text("\n\n".join("\n".join(f"{w} {t}" for w, t in s) for s in sentences) + "\n")
    return path


def ner_sentences(n: int, seed: int) -> list[list[tuple[str, str]]]:
    rng = random.Random(seed)
    return [[(rng.choice(NAMES), "B-PER"), (rng.choice(["lives", "works"]), "O"), ("in", "O"),
             (rng.choice(PLACES), "B-LOC"), (".", "O")] for _ in range(n)]


def _cfg(model: Path, data: Path, out: Path, kind: str, **kw) -> TrainConfig:
    base = dict(model=str(model), data=str(data), output=str(out), head=HeadOptions(kind=kind), method="full",
                max_steps=40, batch_size=8, lr=3e-3, warmup_steps=2, eval_every=20, save_every=0, bf16=False,
                max_length=64, eval=EvalOptions(test=str(data)))
    return TrainConfig(**{**base, **kw})


def _report(run: Path) -> dict:
    """The run's combined evaluation report (what `ils eval -o` writes), its one mode."""
    return json.loads((run / "eval" / "report.json").read_text())["modes"][str(run)]


def test_sequence_head_learns_and_ils_eval_compare_rescore_agree(tiny_bert, tmp_path):
    from ils.dataset import read_split
    from ils.evaluate.compare import compare_reports
    from ils.evaluate.modes import evaluate_modes
    from ils.evaluate.rescore import rescore

    data = folder(tmp_path, "sentiment", sentiment_tsv(tmp_path / "tr.tsv", 64, 0),
                  sentiment_tsv(tmp_path / "va.tsv", 32, 1))
    run = train(_cfg(tiny_bert, data, tmp_path / "run", "sequence", max_steps=80))
    own = _report(run)["tasks"]["sentiment"]
    assert own["metric"] == "accuracy" and own["score"] >= 0.9 and own["n"] == 32
    again = evaluate_modes(read_split(data, "test"), [str(run)], tmp_path / "ev", progress=False)
    assert again["modes"][str(run)]["tasks"]["sentiment"]["score"] == own["score"]
    rows = compare_reports([run, tmp_path / "ev"])["rows"]
    assert rows[0]["values"] == [own["score"], own["score"]]
    rescore(run)
    assert _report(run)["tasks"]["sentiment"]["score"] == own["score"]  # answers re-scored, not re-parsed
    row = json.loads((run / "eval" / "0-run" / "predictions.jsonl").read_text().splitlines()[0])
    assert row["answer"] == row["parsed"] and row["output"] in ("negative", "positive")


def test_lora_on_a_sequence_head_reloads(tiny_bert, tmp_path):
    from ils.models.loading import load_run

    data = folder(tmp_path, "sentiment", sentiment_tsv(tmp_path / "tr.tsv", 32, 0),
                  sentiment_tsv(tmp_path / "va.tsv", 8, 1))
    run = train(_cfg(tiny_bert, data, tmp_path / "run", "auto", method="lora", max_steps=4, lr=1e-2,
                     lora=LoraOptions(r=4, alpha=8)))
    assert (run / "adapter" / "adapter_config.json").is_file()
    model, _, info = load_run(run)
    assert model.config.num_labels == 2 and info["run"]["head"]["labels"] == ["negative", "positive"]
    assert info["run"]["head"]["kind"] == "sequence" and info["run"]["tasks"] == ["sentiment"]


def _mean_logits(model, batch):
    """What a mean-pooled head must output: its classifier on the mask-weighted mean token state."""
    hidden = model.bert(**batch).last_hidden_state
    weights = batch["attention_mask"].unsqueeze(-1).float()
    return model.classifier((hidden * weights).sum(1) / weights.sum(1))


@pytest.mark.parametrize("method", ["full", "lora"])
def test_mean_pooling_trains_saves_and_reloads(tiny_bert, tmp_path, method):
    import torch

    from ils.models.loading import load_run

    data = folder(tmp_path, "sentiment", sentiment_tsv(tmp_path / "tr.tsv", 64, 0),
                  sentiment_tsv(tmp_path / "va.tsv", 32, 1))
    run = train(_cfg(tiny_bert, data, tmp_path / "run", "sequence", method=method, max_steps=80,
                     lora=LoraOptions(r=4, alpha=8), head=HeadOptions(kind="sequence", pooling="mean")))
    assert _report(run)["tasks"]["sentiment"]["score"] >= 0.9
    model, tok, info = load_run(run)
    assert info["run"]["head"]["options"]["pooling"] == "mean"
    batch = tok(["good movie", "an awful , dull and poor plot"], padding=True, return_tensors="pt")
    batch.pop("token_type_ids", None)
    with torch.no_grad():
        padded, alone = model(**batch).logits, model(**tok(["good movie"], return_tensors="pt")).logits
        expected = _mean_logits(model.get_base_model() if method == "lora" else model, batch)
    assert torch.allclose(padded, expected, atol=1e-5)
    assert torch.allclose(padded[0], alone[0], atol=1e-5)  # padding does not move the mean


def test_token_head_labels_first_sub_tokens_and_ner_scores_entities(tiny_bert, tmp_path):
    from ils.models.heads import HeadSpec, get_head
    from ils.models.loading import load_tokenizer

    head, tok = get_head("token"), load_tokenizer(tiny_bert)
    spec = HeadSpec("token", ["O", "B-LOC", "B-PER"], 64)
    ids, lab, _ = head.encode([{"words": ["johnson", "in", "berlinville"], "tags": ["B-PER", "O", "B-LOC"]}],
                              tok, spec)[0]
    assert tok.convert_ids_to_tokens(ids) == ["[CLS]", "john", "##son", "in", "berlin", "##ville", "[SEP]"]
    assert lab == [-100, 2, -100, 0, 1, -100, -100]

    data = folder(tmp_path, "ner", conll(tmp_path / "tr.txt", ner_sentences(64, 0)),
                  conll(tmp_path / "va.txt", ner_sentences(16, 1)))
    run = train(_cfg(tiny_bert, data, tmp_path / "run", "token", lr=1e-2))
    ner = _report(run)["tasks"]["ner"]
    assert ner["metric"] == "entity_f1" and ner["score"] >= 0.9 and ner["unparseable"] == 0
    row = json.loads((run / "eval" / "0-run" / "predictions.jsonl").read_text().splitlines()[0])
    assert {"type", "text", "start", "end"} <= set(row["answer"][0])  # spans with offsets, scored as such
    assert row["correct"] == (row["answer"] == row["reference"])


def _cased(n: int, seed: int) -> list[list[tuple[str, str]]]:
    """The same words are a person when capitalised and plain words when not: only casing tells."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        name, cap = rng.choice(NAMES), rng.random() < 0.5
        out.append([(name.title() if cap else name, "B-PER" if cap else "O"), ("works", "O"), (".", "O")])
    return out


def test_case_types_carry_capitals_past_an_uncased_tokenizer(tiny_bert, tmp_path):
    from ils.models.heads import HeadSpec, get_head
    from ils.models.loading import load_tokenizer

    head, tok = get_head("token"), load_tokenizer(tiny_bert)
    spec = HeadSpec("token", ["O", "B-PER"], 64, HeadOptions(case_types=True))
    x = {"words": ["Johnson", "in", "berlinville"], "tags": ["B-PER", "O", "O"]}
    _, _, types = head.encode([x], tok, spec)[0]
    assert types == [0, 1, 1, 0, 0, 0, 0]  # [CLS] john ##son in berlin ##ville [SEP]
    data = folder(tmp_path, "ner", conll(tmp_path / "tr.txt", _cased(96, 0)),
                  conll(tmp_path / "va.txt", _cased(32, 1)))
    f1 = {}
    for cased in (False, True):
        run = train(_cfg(tiny_bert, data, tmp_path / f"run{cased}", "token", lr=1e-2, max_steps=60,
                         head=HeadOptions(kind="token", case_types=cased)))
        f1[cased] = _report(run)["tasks"]["ner"]["score"]
    assert f1[True] >= 0.9 > 0.75 > f1[False]


def test_head_options_a_kind_does_not_read_are_refused_before_anything_is_created(tiny_bert, tmp_path):
    data = folder(tmp_path, "sentiment", sentiment_tsv(tmp_path / "tr.tsv", 8, 0),
                  sentiment_tsv(tmp_path / "va.tsv", 4, 1))
    bad = [("token", {"pooling": "mean"}, "head.pooling: the token head does not use it"),
           ("sequence", {"case_types": True}, "head.case_types: the sequence head does not use it"),
           ("auto", {"case_types": True}, "head.case_types: the sequence head does not use it"),
           ("token", {}, "task 'sentiment' is learned by the sequence head, not token"),
           (None, {"pooling": "mean"}, "head.pooling: only an encoder head reads it"),
           ("nope", {}, "unknown head 'nope'; known: .*sequence, span, token")]
    for i, (kind, opts, message) in enumerate(bad):
        with pytest.raises(ConfigError, match=message):
            train(_cfg(tiny_bert, data, tmp_path / f"r{i}", kind, head=HeadOptions(kind=kind, **opts)))
        assert not (tmp_path / f"r{i}").exists()


def squad_json(path: Path, n: int) -> Path:
    rng = random.Random(0)
    paras = []
    for k in range(n):
        animal, place = rng.choice(["cat", "dog"]), rng.choice(["park", "house", "city"])
        context = f"the {animal} ran in the {place} . the mat is at the house ."
        golds = [f"the {place}", place]  # two annotators, two spans
        paras.append({"context": context, "qas": [{"id": str(k), "question": f"where did the {animal} run ?",
                                                   "answers": [{"text": g, "answer_start": context.index(g)}
                                                               for g in golds]}]})
    articles = [{"title": f"t{k}", "paragraphs": [p]} for k, p in enumerate(paras)]
    path.write_text(json.dumps({"data": articles}))
    return path


def _qa_spec(**opts):
    from ils.models.heads import HeadSpec

    return HeadSpec("span", None, opts.pop("max_length", 48), HeadOptions(**opts))


def test_span_windows_find_an_answer_past_the_first_window(tiny_bert):
    from ils.models.heads.span import answer_tokens, windows
    from ils.models.loading import load_tokenizer

    tok = load_tokenizer(tiny_bert)
    context = "the cat sat on the mat . " * 6 + "the dog ran in the park ."
    start = context.index("the park")
    x = {"question": "where did the dog run ?", "context": context}
    enc = windows(tok, [x], _qa_spec(max_length=24, doc_stride=8))
    spans = [answer_tokens(enc, i, start, start + 8) for i in range(len(enc["input_ids"]))]
    assert len(spans) > 2 and spans[0] == (0, 0)
    i, (s, e) = next((i, sp) for i, sp in enumerate(spans) if sp != (0, 0))
    offsets = enc["offset_mapping"][i]
    assert context[offsets[s][0]:offsets[e][1]] == "the park"


def _qa_input() -> dict:
    context = "the dog ran in the big park . the cat sat on the mat ."
    golds = ["the big park", "big park", "park", "big park"]  # one repeat, as SQuAD annotators do
    return {"id": "q", "question": "where did the dog run ?", "context": context,
            "answers": [{"text": g, "start": context.index(g)} for g in golds]}


def test_span_all_answers_trains_on_each_distinct_gold_span(tiny_bert):
    from ils.models.heads import get_head
    from ils.models.heads.span import windows
    from ils.models.loading import load_tokenizer

    tok, head, x = load_tokenizer(tiny_bert), get_head("span"), _qa_input()
    spans = {flag: [tuple(y) for _, y, _ in head.encode([x], tok, _qa_spec(doc_stride=8, all_answers=flag))]
             for flag in (False, True)}
    assert len(spans[False]) == 1 and len(spans[True]) == 3 and spans[False][0] in spans[True]
    offsets = windows(tok, [x], _qa_spec(doc_stride=8))["offset_mapping"][0]
    texts = [x["context"][offsets[s][0]:offsets[e][1]] for s, e in spans[True]]
    assert texts == ["the big park", "big park", "park"]


def test_span_marginal_loss_keeps_one_item_per_window_and_sums_gold_probabilities(tiny_bert):
    import torch

    from ils.models.heads import get_head
    from ils.models.heads.span import marginal_nll
    from ils.models.loading import load_tokenizer

    tok, head, x = load_tokenizer(tiny_bert), get_head("span"), _qa_input()
    each = head.encode([x], tok, _qa_spec(doc_stride=8, all_answers=True))
    marg = head.encode([x], tok, _qa_spec(doc_stride=8, all_answers=True, answer_loss="marginal"))
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
def test_span_head_trains_and_the_qa_task_scores_it(tiny_bert, tmp_path, loss):
    raw = squad_json(tmp_path / "squad.json", 48)
    data = build_dataset({"sources": [
        {"task": "qa", "path": str(raw), "split": "train", "name": "a", "options": {"articles": [0, 40]}},
        {"task": "qa", "path": str(raw), "split": "test", "name": "b", "options": {"articles": [40, None]}}],
        "splits": {"train": 1.0, "validation": 0.0, "test": 0.0}, "dedup": {"exact": False, "near": False}},
        tmp_path / "ds", progress=False)
    splits = json.loads((data / "manifest.json").read_text())["splits"]
    assert splits == {"train": 40, "validation": 0, "test": 8}
    run = train(_cfg(tiny_bert, data, tmp_path / "run", "span", lr=1e-2, max_steps=60, eval_every=0,
                     head=HeadOptions(kind="span", doc_stride=16, all_answers=True, answer_loss=loss)))
    qa = _report(run)["tasks"]["qa"]
    assert qa["metric"] == "squad" and qa["f1"] >= 0.75 and 0 <= qa["exact_match"] <= 1


def test_bad_head_input_fails_before_anything_is_created(tiny_bert, tmp_path):
    data = folder(tmp_path, "sentiment", sentiment_tsv(tmp_path / "tr.tsv", 16, 0),
                  sentiment_tsv(tmp_path / "va.tsv", 8, 1))
    with pytest.raises(ConfigError, match="needs a causal LM"):
        train(_cfg(tiny_bert, data, tmp_path / "a", "sequence", method="prefix"))
    with pytest.raises(TrainingError, match=r"labels \['positive'\] are not in the head's label set"):
        train(_cfg(tiny_bert, data, tmp_path / "b", "sequence",
                   head=HeadOptions(kind="sequence", labels=["negative"])))
    with pytest.raises(ConfigError, match="longer than the model's 64 positions"):
        train(_cfg(tiny_bert, data, tmp_path / "c", "sequence", max_length=128))
    with pytest.raises(ConfigError, match="unknown method"):
        train(_cfg(tiny_bert, data, tmp_path / "d", "sequence", method="nope"))
    with pytest.raises(ConfigError, match="eval.modes"):
        train(_cfg(tiny_bert, data, tmp_path / "e", "sequence",
                   eval=EvalOptions(test=str(data), modes=["few-shot:2"])))
    pairs = tmp_path / "translation.jsonl"  # translation has no encoder head (NLI has one since the pair input)
    pairs.write_text('{"source": "the cat sat", "target": "le chat"}\n' * 4)
    with pytest.raises(ConfigError, match="task 'translation' has no encoder head"):
        train(_cfg(tiny_bert, folder(tmp_path, "translation", pairs, pairs, name="tr"), tmp_path / "f", "auto"))
    assert not any((tmp_path / d).exists() for d in "abcdef")
