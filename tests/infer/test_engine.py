"""The continuous-batching engine against Hugging Face ``generate`` on a tiny random Llama."""

from __future__ import annotations

import threading

import pytest
import torch

from ils.infer.engine import LocalEngine
from ils.infer.protocol import EngineError, Sampling

SYSTEM = {"role": "system", "content": "You are a careful assistant. Answer with one number. " * 3}
PROMPTS = ["Add 2 and 3.", "What is 12 plus 7? hello world hello", "Sort", "The answer is 42. Reverse the words."]


def _load(folder, adapters: dict | None = None):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    if adapters:
        from peft import LoraConfig, get_peft_model

        for i, name in enumerate(adapters):
            torch.manual_seed(100 + i)
            cfg = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
            model = get_peft_model(model, cfg, adapter_name=name) if i == 0 else model
            if i:
                model.add_adapter(name, cfg)
        model.eval()
    return model, tok


def _reference(model, tok, chat, n, adapter=None):
    """One prompt at a time, no padding: what greedy decoding means."""
    ids = torch.tensor([tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=True,
                                                return_dict=True)["input_ids"]])
    if adapter is not None:
        model.set_adapter(adapter)
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n,
                             do_sample=False, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    return out[0, ids.shape[1]:].tolist()


@pytest.fixture()
def engine(tiny_llama):
    model, tok = _load(tiny_llama)
    eng = LocalEngine(model, tok, step_tokens=8, batch_size=3)
    yield eng
    eng.close()


def _chats(with_system=True):
    return [[SYSTEM, {"role": "user", "content": p}] if with_system else [{"role": "user", "content": p}]
            for p in PROMPTS]


def test_greedy_equals_generate_with_chunked_prefill_and_prefix_hits(tiny_llama, engine):
    model, tok = _load(tiny_llama)
    expected = [_reference(model, tok, c, 10) for c in _chats()]
    first = engine.generate(_chats(), Sampling(max_new_tokens=10))
    assert engine.stats()["prefix_hit_tokens"] > 0  # later prompts reuse the system prompt's blocks
    hits = engine.stats()["prefix_hit_tokens"]
    again = engine.generate(_chats(), Sampling(max_new_tokens=10))
    assert engine.stats()["prefix_hit_tokens"] > hits
    for got, more, want in zip(first, again, expected):
        assert got.token_ids == want and more.token_ids == want
        assert got.finish_reason == ("stop" if want[-1] == tok.eos_token_id else "length")
        assert got.completion_tokens == len(want) and got.prompt_tokens > 0


def test_mixed_adapters_share_one_batch(tiny_llama):
    model, tok = _load(tiny_llama, {"ada": 1, "adb": 1})
    chats = _chats(with_system=False)
    plan = [("ada", chats[0]), ("adb", chats[1]), (None, chats[2]), ("ada", chats[3])]
    expected = []
    for name, chat in plan:
        if name is None:
            with model.disable_adapter():
                expected.append(_reference(model, tok, chat, 8))
        else:
            expected.append(_reference(model, tok, chat, 8, name))
    eng = LocalEngine(model, tok)
    seen = []
    forward = eng.runner.forward
    eng.runner.forward = lambda t, lay, names, rows: (seen.append(set(names)), forward(t, lay, names, rows))[1]
    from ils.infer.progress import Waiter

    waiter = Waiter(len(plan))
    reqs = [eng.submit(eng.encode(c), Sampling(max_new_tokens=8), adapter=n, on_done=waiter.done)
            for n, c in plan]
    waiter.wait()
    eng.close()
    assert [r.tokens[r.prompt_len:] for r in reqs] == expected
    assert any(len(names) == 3 for names in seen)  # both adapters and the base model in one forward pass


def test_stop_strings_end_the_answer_at_the_step_they_appear(engine):
    free = engine.generate(_chats(False)[:1], Sampling(max_new_tokens=12))[0]
    assert len(free.text) > 3
    stop = free.text[2:4]
    cut = engine.generate(_chats(False)[:1], Sampling(max_new_tokens=12, stop=(stop,)))[0]
    assert cut.text == free.text[: free.text.index(stop)]
    assert cut.finish_reason == "stop" and cut.completion_tokens < free.completion_tokens
    pieces = list(engine.stream(_chats(False)[0], Sampling(max_new_tokens=12, stop=(stop,))))
    assert "".join(pieces) == cut.text and stop not in "".join(pieces)


def test_scores_are_log_probabilities_of_the_option_tokens(tiny_llama, engine):
    model, tok = _load(tiny_llama)
    prompts, options = [PROMPTS[0], PROMPTS[1]], [["a", "b c"], ["hello world"]]
    got = engine.score(prompts, options)
    for p, opts, scores in zip(prompts, options, got):
        for o, s in zip(opts, scores):
            head, tail = tok(p, add_special_tokens=False).input_ids, tok(o, add_special_tokens=False).input_ids
            with torch.no_grad():
                lp = torch.log_softmax(model(torch.tensor([head + tail])).logits[0].float(), -1)
            want = sum(float(lp[len(head) - 1 + i, t]) for i, t in enumerate(tail))
            assert s == pytest.approx(want, abs=1e-4)


def test_an_aborted_request_leaves_the_batch(engine):
    started, finished = threading.Event(), threading.Event()
    r = engine.submit(engine.encode(_chats(False)[0]), Sampling(max_new_tokens=200),
                      on_text=lambda piece: started.set(), on_done=lambda _: finished.set())
    assert started.wait(30)
    engine.abort(r)
    assert finished.wait(30)
    assert r.finish == "abort" and len(r.tokens) - r.prompt_len < 200
    assert engine.sched.running == []


def test_a_failing_forward_fails_only_its_requests(engine):
    forward, calls = engine.runner.forward, []

    def flaky(*args):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return forward(*args)

    engine.runner.forward = flaky
    with pytest.raises(EngineError, match="boom"):
        engine.generate(_chats(False)[:1], Sampling(max_new_tokens=4))
    assert engine.generate(_chats(False)[:2], Sampling(max_new_tokens=4))[1].completion_tokens > 0


def test_the_kv_budget_bounds_memory_and_queues_the_rest(tiny_llama):
    model, tok = _load(tiny_llama)
    eng = LocalEngine(model, tok, kv_tokens=256, batch_size=64)
    seen = []
    forward = eng.runner.forward
    eng.runner.forward = lambda *a: (seen.append(len(eng.sched.running)), forward(*a))[1]
    outs = eng.generate(_chats(False) * 3, Sampling(max_new_tokens=40))
    eng.close()
    assert len(outs) == 12 and all(o.completion_tokens for o in outs)
    assert max(seen) <= 2  # each reserves prompt + 40 positions (128 after rounding) of 256
    stats = eng.stats()
    assert 0 < stats["kv_peak_bytes"] <= stats["kv_budget_bytes"]
    with pytest.raises(EngineError, match="KV cache budget"):
        LocalEngine(model, tok, kv_tokens=64).generate(_chats(False)[:1], Sampling(max_new_tokens=100))


def test_a_sampled_answer_does_not_depend_on_its_batch(engine):
    s = Sampling(max_new_tokens=12, temperature=0.9, top_p=0.9, seed=7)
    alone = engine.generate(_chats(False)[:1], s)[0]
    crowd = engine.generate(_chats(False), [s, Sampling(max_new_tokens=5), Sampling(max_new_tokens=9,
                                            temperature=1.0, seed=1), Sampling()])
    assert crowd[0].token_ids == alone.token_ids


def test_generate_scored_reads_each_prompt_once_for_both(tiny_llama, engine):
    options = [["a", "b c"], ["hello world", ""], [], ["7"]]
    chats = _chats()
    done, scores = engine.generate_scored(chats, Sampling(max_new_tokens=6), options)
    alone = engine.generate(chats, Sampling(max_new_tokens=6))
    assert [c.token_ids for c in done] == [c.token_ids for c in alone]
    want = engine.score(chats, options)
    for got, w in zip(scores, want):
        assert got == pytest.approx(w, abs=1e-4)
    assert scores[1][1] == 0.0 and scores[2] == []
