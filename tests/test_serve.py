"""The real server on 127.0.0.1 (uvicorn in a thread) driven by the official ``openai`` client."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import openai
import pytest
from conftest import toy_examples
from serve_helpers import ThreadServer


def tiny_lora_run(tiny_llama, root):
    from ils.config import LoraOptions, TrainConfig
    from ils.records import write_examples
    from ils.train.loop import train

    write_examples(root / "data" / "train.jsonl", toy_examples(8))
    cfg = TrainConfig(model=str(tiny_llama), data=str(root / "data"), output=str(root / "run"), max_steps=2,
                      batch_size=4, eval_every=0, save_every=0, bf16=False, warmup_steps=0, lr=5e-2,
                      lora=LoraOptions(r=2, alpha=4, dropout=0.0))  # a large step: the adapter visibly differs
    return train(cfg)


@pytest.fixture(scope="module")
def lora_run(tiny_llama, tmp_path_factory):
    return tiny_lora_run(tiny_llama, tmp_path_factory.mktemp("lora"))


@pytest.fixture(scope="module")
def server(tiny_llama, lora_run, tmp_path_factory):
    from ils.serve.run import ServeOptions

    db = f"sqlite:///{tmp_path_factory.mktemp('db') / 'store.sqlite'}"
    srv = ThreadServer(ServeOptions(model=str(tiny_llama), adapters={"toy": str(lora_run)}, db=db,
                                    max_tokens=8, max_body=64_000))
    yield srv
    srv.stop()


@pytest.fixture
def client(server):
    with openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0) as c:
        yield c


def test_models_lists_base_and_adapters(client, server):
    ids = [m.id for m in client.models.list()]
    assert ids == [server.state.pool.base_id, "toy"]


def test_chat_completion_params_and_store_log(client, server):
    from ils.store.models import Completion

    base = server.state.pool.base_id
    r = client.chat.completions.create(model=base, messages=[{"role": "user", "content": "Add 2 and 3."}],
                                       temperature=0, max_tokens=6, n=2, seed=1, stop=["\n\n"])
    assert len(r.choices) == 2 and r.choices[0].message.content == r.choices[1].message.content
    assert r.usage.completion_tokens <= 12 and r.id.startswith("chatcmpl-")
    row = server.state.store.completion(r.id)
    assert row.output == r.choices[0].message.content and row.model == base and row.latency_ms > 0
    assert row.prompt == [{"role": "user", "content": "Add 2 and 3."}]
    assert server.state.store.count(Completion) >= 1


def test_adapter_changes_the_model(client, server):
    msgs = [{"role": "user", "content": "Sort these numbers: 5, 1, 4."}]
    base = client.chat.completions.create(model=server.state.pool.base_id, messages=msgs, temperature=0)
    toy = client.chat.completions.create(model="toy", messages=msgs, temperature=0)
    assert server.state.store.completion(toy.id).adapter == "toy"
    assert server.state.store.completion(base.id).adapter is None
    assert toy.choices[0].message.content != base.choices[0].message.content
    again = client.chat.completions.create(model=server.state.pool.base_id, messages=msgs, temperature=0)
    assert again.choices[0].message.content == base.choices[0].message.content  # the base is left as it was


def test_stream_matches_plain(client, server):
    msgs = [{"role": "user", "content": "hello world"}]
    plain = client.chat.completions.create(model="toy", messages=msgs, temperature=0, max_tokens=8)
    chunks = list(client.chat.completions.create(model="toy", messages=msgs, temperature=0, max_tokens=8,
                                                 stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_text_completions_plain_and_stream(client, server):
    base = server.state.pool.base_id
    r = client.completions.create(model=base, prompt=["The answer is", "hello"], max_tokens=5, temperature=0)
    assert len(r.choices) == 2 and r.id.startswith("cmpl-")
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model=base, prompt="The answer is", max_tokens=5, temperature=0, stream=True))
    assert streamed == r.choices[0].text


def test_feedback_is_stored(client, server):
    r = client.chat.completions.create(model="toy", messages=[{"role": "user", "content": "Add 1 and 1."}],
                                       temperature=0)
    ok = httpx.post(server.url + "/v1/feedback", json={"completion_id": r.id, "rating": -1,
                                                      "correction": "2", "comment": "wrong"})
    assert ok.status_code == 200
    rows = [f for f in server.state.store.feedback() if f["completion_id"] == r.id]
    assert rows[0]["correction"] == "2" and rows[0]["rating"] == -1 and rows[0]["id"] == ok.json()["id"]
    missing = httpx.post(server.url + "/v1/feedback", json={"completion_id": "nope", "rating": 1})
    assert missing.status_code == 404 and "unknown completion" in missing.json()["error"]["message"]


def test_errors_are_openai_shaped_and_server_stays_healthy(client, server):
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
    assert e.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="toy", messages=[{"role": "user", "content": "hello " * 300}])
    assert e.value.body["code"] == "context_length_exceeded"
    bad = httpx.post(server.url + "/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"
    big = httpx.post(server.url + "/v1/chat/completions", content=b"x" * 70_000)
    assert big.status_code == 413 and big.json()["error"]["code"] == "body_too_large"
    wrong = httpx.post(server.url + "/v1/chat/completions", json={"model": "toy", "messages": [], "n": 99})
    assert wrong.status_code == 400 and wrong.json()["error"]["type"] == "invalid_request_error"
    assert httpx.get(server.url + "/health").json()["status"] == "ok"


def test_queue_full_is_429_and_a_request_that_can_never_fit_is_400(client, server, monkeypatch):
    msgs = [{"role": "user", "content": "hi"}]
    monkeypatch.setattr(server.state, "max_queue_tokens", 60)
    monkeypatch.setattr(server.state.engine, "queued_tokens", lambda: 50)  # others are waiting
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model="toy", messages=msgs, max_tokens=4)
    assert e.value.body["code"] == "queue_full"
    with pytest.raises(openai.BadRequestError) as e:  # 16 choices never fit 60 tokens: a 429 would lie
        client.chat.completions.create(model="toy", messages=msgs, n=16, max_tokens=8)
    assert e.value.body["code"] == "request_too_large"
    monkeypatch.undo()
    assert client.chat.completions.create(model="toy", messages=msgs).choices


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_200_concurrent_requests_batched(server):
    async def burst():
        async with openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0) as c:
            calls = [c.chat.completions.create(model=["toy", server.state.pool.base_id][i % 2], temperature=0,
                                               messages=[{"role": "user", "content": f"Add {i} and 1."}],
                                               max_tokens=4) for i in range(200)]
            return await asyncio.gather(*calls, return_exceptions=True)

    asyncio.run(burst())  # warm-up: allocator pools, connection setup
    before_rss, before_steps = _rss_mb(), server.state.engine.stats()["steps"]
    results = asyncio.run(burst())
    failures = [r for r in results if isinstance(r, Exception)]
    assert not failures, failures[:3]
    assert server.state.engine.stats()["steps"] - before_steps < 200  # batched: 200 x 4 tokens in fewer steps
    assert _rss_mb() - before_rss < 150
    assert server.state.engine.queued_tokens() == 0


def test_reload_swaps_model_without_dropping_requests(server, lora_run):
    async def run():
        async with openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0) as c:
            base = server.state.pool.base_id
            calls = [c.chat.completions.create(model=base, messages=[{"role": "user", "content": "hi"}],
                                               max_tokens=4) for _ in range(20)]
            async with httpx.AsyncClient(timeout=60) as h:
                calls.insert(10, h.post(server.url + "/admin/reload", json={"model": str(lora_run)}))
                return await asyncio.gather(*calls, return_exceptions=True)

    before = server.state.pool
    results = asyncio.run(run())
    assert not [r for r in results if isinstance(r, Exception)]
    assert results[10].status_code == 200 and server.state.pool is not before
    assert server.state.pool.base_id == before.base_id and server.state.pool.base_adapter is not None
    assert before.engine.sched.running == []
    assert [m["id"] for m in httpx.get(server.url + "/v1/models").json()["data"]] == before.ids()


def test_api_keys(tiny_llama, tmp_path):
    from ils.serve.run import ServeOptions
    from ils.store import open_store

    db = f"sqlite:///{tmp_path / 's.sqlite'}"
    stored = open_store(db).create_api_key("alice")
    srv = ThreadServer(ServeOptions(model=str(tiny_llama), db=db, api_keys=["cli-key"], max_tokens=4))
    try:
        assert httpx.get(srv.url + "/v1/models").status_code == 401
        bad = httpx.get(srv.url + "/v1/models", headers={"Authorization": "Bearer wrong"})
        assert bad.status_code == 401 and bad.json()["error"]["code"] == "invalid_api_key"
        for key in ("cli-key", stored):
            with openai.OpenAI(base_url=srv.url + "/v1", api_key=key, max_retries=0) as c:
                assert c.chat.completions.create(model=srv.state.pool.base_id,
                                                 messages=[{"role": "user", "content": "hi"}]).choices
        assert "cli-key" not in str(srv.state.keys.hashes)
    finally:
        srv.stop()


def test_warns_when_public_without_keys(tiny_llama, tmp_path, capsys):
    from ils.serve.run import ServeOptions, make_app

    app = make_app(ServeOptions(model=str(tiny_llama), db=f"sqlite:///{tmp_path / 's.sqlite'}", host="0.0.0.0"))
    assert "without API keys" in capsys.readouterr().err
    app.state.ils.engine.close()


def test_reload_without_body_serves_the_stores_current_version(server, lora_run):
    server.state.store.add_version("v7", str(lora_run), "promoted")
    r = httpx.post(server.url + "/admin/reload", timeout=120)
    assert r.status_code == 200 and r.json()["version"] == "v7"
    assert httpx.get(server.url + "/health").json()["version"] == "v7"


def test_echoed_logprobs_come_from_the_cache_the_second_time_and_equal_a_fresh_read(client, server):
    """lm-evaluation-harness scores options with echo + logprobs: the second option of a prompt reads
    the prompt's log-probs from the prefix cache instead of running the prompt again."""
    base, engine = server.state.pool.base_id, server.state.pool.engine
    prompt = "The keeper climbed the stairs of the old lighthouse once more, and the answer he gave was "

    def echo(option: str) -> tuple[list[float], int]:
        ran = engine.sched.tokens_run
        r = client.completions.create(model=base, prompt=prompt + option, max_tokens=1, temperature=0,
                                      echo=True, logprobs=1)
        return r.choices[0].logprobs.token_logprobs, engine.sched.tokens_run - ran

    first, _ = echo(" forty two")
    second, cached_run = echo(" seven")
    engine.sched.prefix.blocks.clear()
    fresh, fresh_run = echo(" seven")
    shared = next(i for i, (a, b) in enumerate(zip(first, second)) if a != pytest.approx(b, abs=1e-4))
    assert shared > 16  # a block or more of the prompt was scored alike
    assert second[1:-1] == pytest.approx(fresh[1:-1], abs=1e-4)  # the last one is the generated token's
    assert cached_run < len(fresh) / 2 < fresh_run  # echo and answer together ran under half the prompt
