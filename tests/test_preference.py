"""Preference tuning: the layouts a chosen/rejected or labelled file comes in, DPO and KTO runs through
the one loop (reference log-probs stored once), feedback rows as pairs and ratings, and bad input refused
before a run folder exists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ils.config import LoraOptions, TrainConfig
from ils.errors import ConfigError, DataError, TrainingError
from ils.records import load_examples, write_examples
from ils.train.loop import train


def _cfg(model: Path, data: Path, out: Path, **kw) -> TrainConfig:
    base = dict(model=str(model), data=str(data), output=str(out), max_steps=16, batch_size=4, lr=2e-2,
                warmup_steps=0, eval_every=0, save_every=0, bf16=False, lora=LoraOptions(r=4, alpha=8, dropout=0.0))
    return TrainConfig(**{**base, **kw})


def _pairs_file(path: Path, n: int = 16) -> Path:
    """Users prefer the bare number to a sentence about it."""
    rows = [{"prompt": f"Add {i % 7} and {i // 7}.", "chosen": str(i % 7 + i // 7),
             "rejected": f"hello world {i % 7 + i // 7}"} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


LAYOUTS = [
    {"prompt": "Add 2 and 3.", "chosen": "5", "rejected": "6"},
    {"prompt": [{"role": "user", "content": "Add 2 and 3."}], "chosen": [{"role": "assistant", "content": "5"}],
     "rejected": [{"role": "assistant", "content": "6"}]},
    {"chosen": [{"role": "user", "content": "Add 2 and 3."}, {"role": "assistant", "content": "5"}],
     "rejected": [{"role": "user", "content": "Add 2 and 3."}, {"role": "assistant", "content": "6"}]},
    {"instruction": "Add 2 and 3.", "input": "", "chosen": "5", "rejected": "6"},
    {"conversations": [{"from": "human", "value": "Add 2 and 3."}], "chosen": {"from": "gpt", "value": "5"},
     "rejected": {"from": "gpt", "value": "6"}},
]


@pytest.mark.parametrize("row", LAYOUTS, ids=["trl", "trl-chat", "implicit-prompt", "alpaca", "sharegpt"])
def test_every_preference_layout_reads_to_one_pair(row, tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(row) + "\n")
    (ex,) = load_examples(path)
    assert ex.prompt_messages == [{"role": "user", "content": "Add 2 and 3."}]
    assert ex.response == "5" and ex.meta["rejected"] == "6"


def test_pairs_and_labels_survive_csv_and_a_rewrite(tmp_path):
    csv = tmp_path / "p.csv"
    csv.write_text("prompt,chosen,rejected\nAdd 2 and 3.,5,6\n")
    kto = tmp_path / "k.jsonl"
    kto.write_text(json.dumps({"prompt": "Add 2 and 3.", "completion": "6", "label": False}) + "\n")
    records = load_examples(csv) + load_examples(kto)
    write_examples(tmp_path / "all.jsonl", records)
    again = load_examples(tmp_path / "all.jsonl")
    assert [ex.meta for ex in again] == [{"rejected": "6"}, {"label": False}]


@pytest.mark.parametrize("row,message", [
    ({"prompt": "Add 2 and 3.", "chosen": "5"}, "rejected: missing"),
    ({"prompt": "Add 2 and 3.", "rejected": "5"}, "chosen: missing"),
    ({"chosen": [{"role": "user", "content": "Add 2 and 3."}, {"role": "assistant", "content": "5"}],
      "rejected": [{"role": "user", "content": "Add 4 and 4."}, {"role": "assistant", "content": "6"}]},
     "rejected: its prompt differs from chosen's"),
    ({"prompt": "q", "chosen": "5", "rejected": "5"}, "rejected: the same answer as chosen"),
    ({"prompt": "q", "completion": "5", "label": "maybe"}, "label: 'maybe' is not true/false"),
])
def test_bad_preference_rows_name_line_and_field(row, message, tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text("\n" + json.dumps(row) + "\n")
    with pytest.raises(DataError, match=f"p.jsonl:2: {message}"):
        load_examples(path)


def _margin(run: Path, model: Path, data: Path) -> float:
    """Mean (chosen - rejected) log-prob of the run's model minus the reference's, over the pairs."""
    from ils.models.loading import load_base, load_run
    from ils.train.objectives.dpo import encode_pairs
    from ils.train.objectives.logps import batch_logps

    records = load_examples(data)
    out = []
    for m, tok in (load_run(run)[:2], load_base(str(model))[:2]):
        pairs = encode_pairs(records, tok, 512, "test")
        c = batch_logps(m.eval(), [(p.ids, p.labels) for p in pairs], tok.pad_token_id)
        r = batch_logps(m, [(p.rejected_ids, p.rejected_labels) for p in pairs], tok.pad_token_id)
        out.append((c - r).mean().item())
    return out[0] - out[1]


def test_dpo_run_prefers_chosen_and_stores_the_reference_once(tiny_llama, tmp_path):
    data = _pairs_file(tmp_path / "pairs.jsonl")
    run = train(_cfg(tiny_llama, data, tmp_path / "run", objective="dpo"))
    ref = load_file(run / "reference.safetensors")
    assert ref["train.chosen"].shape == ref["train.rejected"].shape == (16,)
    assert _margin(run, tiny_llama, data) > 1.0  # the tuned model moved towards the chosen answers
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["loss"] == pytest.approx(0.6931, abs=1e-3)  # at the reference the DPO loss is log 2
    assert rows[-1]["loss"] < 0.3


def test_a_resumed_run_reads_the_stored_reference(tiny_llama, tmp_path):
    """The reference comes from the stored file, not from weights that have moved since."""
    from ils.models.loading import load_base
    from ils.train.objectives import get_objective

    data = _pairs_file(tmp_path / "pairs.jsonl", 4)
    cfg = _cfg(tiny_llama, data, tmp_path / "run", objective="dpo")
    model, tok, _ = load_base(str(tiny_llama))
    dpo = get_objective("dpo")
    fresh = dpo.load_data(cfg, tok)
    computed = dpo.prepare(model, tok, fresh, cfg, None)
    root = tmp_path / "stored"
    root.mkdir()
    from safetensors.torch import save_file

    save_file({k: v + 1.0 for k, v in computed.items()}, root / "reference.safetensors")
    again = dpo.load_data(cfg, tok)
    dpo.prepare(model, tok, again, cfg, root)
    assert [p.ref[0] for p in again.train] == pytest.approx([p.ref[0] + 1 for p in fresh.train])


def test_kto_run_on_labels_and_on_pairs(tiny_llama, tmp_path):
    path = tmp_path / "rated.jsonl"
    rows = [{"prompt": f"Add {i} and 1.", "completion": str(i + 1) if i % 2 else "hello world", "label": bool(i % 2)}
            for i in range(12)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = train(_cfg(tiny_llama, path, tmp_path / "run", objective="kto", max_steps=6))
    assert set(load_file(run / "reference.safetensors")) == {"train.answer", "train.mismatched"}
    pairs = train(_cfg(tiny_llama, _pairs_file(tmp_path / "p.jsonl", 6), tmp_path / "run2", objective="kto",
                       max_steps=2))
    assert load_file(pairs / "reference.safetensors")["train.answer"].shape == (12,)  # each pair is two answers


@pytest.mark.parametrize("objective,message", [("dpo", "rejected: missing; objective dpo trains on chosen/rejected"),
                                               ("kto", "label: missing; objective kto trains on answers labelled")])
def test_a_file_without_preferences_is_refused_before_the_run_folder(objective, message, tiny_llama, toy_data,
                                                                     tmp_path):
    with pytest.raises(TrainingError, match=message):
        train(_cfg(tiny_llama, toy_data, tmp_path / "run", objective=objective))
    assert not (tmp_path / "run").exists()


def test_pairs_whose_prompts_differ_are_refused_before_the_run_folder(tiny_llama, tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(LAYOUTS[2]) + "\n" + json.dumps(
        {"chosen": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "5"}],
         "rejected": [{"role": "user", "content": "b"}, {"role": "assistant", "content": "6"}]}) + "\n")
    with pytest.raises(DataError, match="p.jsonl:2: rejected: its prompt differs"):
        train(_cfg(tiny_llama, path, tmp_path / "run", objective="dpo"))
    assert not (tmp_path / "run").exists()


def test_dpo_on_an_encoder_head_and_an_unknown_objective_are_refused(tiny_llama, tmp_path):
    data = _pairs_file(tmp_path / "p.jsonl", 2)
    from ils.config import HeadOptions

    with pytest.raises(ConfigError, match="objective: dpo trains a causal LM"):
        train(_cfg(tiny_llama, data, tmp_path / "run", objective="dpo", head=HeadOptions(kind="sequence")))
    with pytest.raises(ConfigError, match="unknown objective 'orpo'; known: dpo, kto, sft"):
        train(_cfg(tiny_llama, data, tmp_path / "run", objective="orpo"))
    from ils.config import PreferenceOptions

    with pytest.raises(ConfigError, match="preference.sft_weight: adds an SFT term to DPO's pairs; objective kto"):
        train(_cfg(tiny_llama, data, tmp_path / "run", objective="kto", preference=PreferenceOptions(sft_weight=1)))
    assert not (tmp_path / "run").exists()


def _row(i, rating, output, correction=None, kind="chat"):
    return {"id": i, "kind": kind, "rating": rating, "correction": correction, "output": output,
            "prompt": [{"role": "user", "content": f"q{i}"}]}


def test_feedback_becomes_pairs_and_ratings():
    from ils.preference import feedback_pairs, feedback_ratings

    rows = [_row(1, 1, "good"), _row(2, -1, "bad", "fixed"), _row(3, 0, "meh"), _row(4, -1, "same", "same"),
            _row(5, 1, "raw", kind="text")]
    pairs = feedback_pairs(rows)
    assert [(p.response, p.meta["rejected"]) for p in pairs] == [("fixed", "bad")]
    rated = feedback_ratings(rows)
    assert [(r.response, r.meta["label"]) for r in rated] == [("good", True), ("bad", False), ("fixed", True),
                                                               ("same", False)]


def test_sequence_logps_sum_only_the_answer_tokens(tiny_llama):
    from ils.models.loading import load_base
    from ils.train.objectives.logps import batch_logps

    model, tok, _ = load_base(str(tiny_llama))
    ids = [5, 6, 7, 8, 9]
    with torch.no_grad():
        full = torch.log_softmax(model(torch.tensor([ids])).logits[0], -1)
    expected = full[2, 8] + full[3, 9]  # tokens 8 and 9 are the answer
    got = batch_logps(model.eval(), [(ids, [-100, -100, -100, 8, 9]), (ids[:3], [-100, 6, 7])], tok.pad_token_id)
    assert got[0].item() == pytest.approx(expected.item(), abs=1e-5)
    assert got[1].item() == pytest.approx((full[0, 6] + full[1, 7]).item(), abs=1e-5)
