"""``ils loop`` on the tiny model: feedback → examples (+ replay) → train → evaluate → gate → version rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import toy_examples


def _log(store, i, prompt, output, rating, correction=None, kind="chat"):
    cid = f"c{i}"
    store.log_completion(id=cid, kind=kind, model="m", adapter=None, choices=[output], params={}, latency_ms=1.0,
                         prompt=[{"role": "user", "content": prompt}] if kind == "chat" else prompt, output=output)
    return store.add_feedback(cid, rating, correction)


def _rows():
    return [
        {"id": 1, "kind": "chat", "rating": 1, "correction": None, "output": "5", "prompt": [{"role": "user", "content": "Add 2 and 3."}]},
        {"id": 2, "kind": "chat", "rating": -1, "correction": None, "output": "x", "prompt": [{"role": "user", "content": "a"}]},
        {"id": 3, "kind": "chat", "rating": -1, "correction": "6", "output": "5", "prompt": [{"role": "user", "content": "add 2 and 3"}]},
        {"id": 4, "kind": "text", "rating": 1, "correction": None, "output": "y", "prompt": "raw"},
    ]


def test_feedback_examples_accept_correct_and_dedup():
    from ils.loop import feedback_examples

    examples, drops = feedback_examples(_rows())
    assert [(ex.id, ex.response) for ex in examples] == [("feedback-3", "6")]  # the newer answer wins
    assert drops == {"not accepted and no correction": 1, "duplicate prompt (newer feedback kept)": 1,
                     "text completion (not an instruction)": 1}


def test_decontaminate_exact_and_ngram():
    from ils.loop import decontaminate
    from ils.records import Example

    reg = [Example.from_alpaca("Add 2 and 3.", "", "5"),
           Example.from_alpaca("please list every prime number below one hundred in order now", "", "2")]
    cand = [Example.from_alpaca("ADD 2 and 3", "", "5"), Example.from_alpaca("Add 4 and 4.", "", "8"),
            Example.from_alpaca("so: please list every prime number below one hundred in order", "", "2")]
    kept, dropped = decontaminate(cand, reg)
    assert [ex.instruction for ex in kept] == ["Add 4 and 4."] and dropped == 2


@pytest.mark.parametrize("reg,fb,ok", [((0.5, 0.49), (0.1, 0.2), True), ((0.5, 0.4), (0.1, 0.9), False),
                                       ((0.5, 0.6), (0.2, 0.2), False)])
def test_gate(reg, fb, ok):
    from ils.loop import gate

    scores = {"regression": {"current": reg[0], "new": reg[1]}, "feedback": {"current": fb[0], "new": fb[1]}}
    assert gate(scores, tolerance=0.02) is ok


def test_loop_end_to_end_tiny(tiny_llama, tmp_path):
    from ils.loop import LoopConfig, gate, run_loop
    from ils.records import write_examples
    from ils.store import open_store

    db = f"sqlite:///{tmp_path / 'store.sqlite'}"
    store = open_store(db)
    for i in range(16):  # the "users" want the answer "yes" to every question of this kind
        _log(store, i, f"Is {i} a number?", "no idea", -1, correction="yes")
    _log(store, 100, "Add 2 and 3.", "5", 1)  # in the regression set: must be dropped
    _log(store, 101, "hello world", "??", -1)  # rejected, no correction: dropped
    from ils.records import Example

    leak = Example.from_alpaca("Add 2 and 3.", "", "5", task="toy_add", answer="5", id="leak")
    write_examples(tmp_path / "regression.jsonl", toy_examples(4, seed=5) + [leak])
    write_examples(tmp_path / "replay.jsonl", toy_examples(40, seed=7))
    cfg = LoopConfig(regression=str(tmp_path / "regression.jsonl"), replay=str(tmp_path / "replay.jsonl"),
                     replay_ratio=0.5, current=str(tiny_llama), db=db, output=str(tmp_path / "loop"),
                     max_steps=16, lr=3e-2, batch_size=8, bf16=False, max_new_tokens=3, tolerance=0.5)
    report = run_loop(cfg)
    m = report["data"]
    assert m["dropped"] == {"in the regression set": 1, "not accepted and no correction": 1}
    assert m["train_feedback"] + m["heldout_feedback"] == 16 and m["replay"] == round(0.5 * m["train_feedback"])
    assert report["status"] == ("promoted" if gate(report["scores"], 0.5) else "rejected")
    assert report["scores"]["feedback"]["new"] > report["scores"]["feedback"]["current"]  # it learned "yes"
    rows = open_store(db).versions()
    assert [(v.name, v.status) for v in rows] == [("v0-base", "base"), ("v1", "promoted")]
    assert open_store(db).current_version().run_dir == report["run"]

    second = run_loop(cfg.model_copy(update={"current": None, "max_steps": 2}))  # tunes from v1 (merged)
    assert second["parent"] == "v1" and (tmp_path / "loop" / "v2" / "base" / "config.json").is_file()


def _loop_cfg(tmp_path, tiny_llama, db, **kw):
    from ils.loop import LoopConfig
    from ils.records import write_examples

    write_examples(tmp_path / "regression.jsonl", toy_examples(4, seed=5))
    write_examples(tmp_path / "replay.jsonl", toy_examples(20, seed=7))
    base = dict(regression=str(tmp_path / "regression.jsonl"), replay=str(tmp_path / "replay.jsonl"),
                current=str(tiny_llama), db=db, output=str(tmp_path / "loop"), max_steps=12, lr=3e-2,
                batch_size=4, bf16=False, max_new_tokens=3, tolerance=1.0)
    return LoopConfig(**{**base, **kw})


def _corrections(store, n=12):
    for i in range(n):  # the model said a sentence; the users corrected it to the bare answer
        _log(store, i, f"Is {i} a number?", "hello world hello world", -1, correction="yes")


@pytest.mark.parametrize("objective", ["dpo", "kto"])
def test_loop_with_a_preference_objective(objective, tiny_llama, tmp_path):
    from ils.loop import run_loop
    from ils.records import load_examples
    from ils.store import open_store

    db = f"sqlite:///{tmp_path / 'store.sqlite'}"
    store = open_store(db)
    _corrections(store)
    _log(store, 50, "Is 50 a number?", "yes", 1)  # a thumbs-up: a desirable answer for kto, nothing for dpo
    report = run_loop(_loop_cfg(tmp_path, tiny_llama, db, objective=objective, beta=0.5))
    m = report["data"]
    train = load_examples(tmp_path / "loop" / "v1" / "data" / "train.jsonl")
    if objective == "dpo":
        assert m["train_feedback"] + m["heldout_feedback"] == 12 and m["replay"] == 0
        assert all(ex.meta["rejected"] == "hello world hello world" for ex in train)
    else:
        assert m["train_feedback"] + m["heldout_feedback"] == 25 and m["replay"] > 0
        assert {ex.meta["label"] for ex in train} == {True, False}
    fb = report["scores"]["feedback"]
    assert fb["metric"] == "log-prob margin of preferred answers"
    assert fb["new"] > fb["current"]  # the held-out corrections became likelier than the answers they replace
    assert (tmp_path / "loop" / "v1" / "run" / "reference.safetensors").is_file()


def test_loop_continual_options(tiny_llama, tmp_path):
    from ils.errors import ILSError
    from ils.loop import run_loop
    from ils.store import open_store

    db = f"sqlite:///{tmp_path / 'store.sqlite'}"
    _corrections(open_store(db))
    with pytest.raises(ILSError, match="--ewc needs --replay"):
        run_loop(_loop_cfg(tmp_path, tiny_llama, db, ewc=1.0, replay=None))
    with pytest.raises(ILSError, match="--lwf distils next-token outputs"):
        run_loop(_loop_cfg(tmp_path, tiny_llama, db, lwf=1.0, objective="dpo"))
    assert not (tmp_path / "loop").exists()
    first = run_loop(_loop_cfg(tmp_path, tiny_llama, db, ewc=1.0, lwf=0.5, max_steps=4))
    run = tmp_path / "loop" / "v1" / "run"
    assert (run / "continual" / "ewc.safetensors").is_file() and (run / "continual" / "lwf.safetensors").is_file()
    assert first["status"] in ("promoted", "rejected")
    second = run_loop(_loop_cfg(tmp_path, tiny_llama, db, adapters=True, max_steps=2, current=first["run"]))
    run2 = Path(second["run"])
    listed = json.loads((run2 / "adapters.json").read_text())["adapters"]
    assert len(listed) == 2 and not (run2.parent / "base").exists()  # beside v1's adapter, no merge
    assert second["scores"]["regression"]["new"] is not None
