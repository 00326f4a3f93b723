"""Token-by-token streaming, finish reasons, client disconnects and engine faults, through the real server."""

from __future__ import annotations

import json
import threading

import httpx
import openai
import pytest
from serve_helpers import ThreadServer

MSGS = [{"role": "user", "content": "Add 2 and 3."}]


@pytest.fixture(scope="module")
def server(tiny_llama, tmp_path_factory):
    from ils.serve.run import ServeOptions

    db = f"sqlite:///{tmp_path_factory.mktemp('db') / 'store.sqlite'}"
    srv = ThreadServer(ServeOptions(model=str(tiny_llama), db=db, max_tokens=64))
    yield srv
    srv.stop()


@pytest.fixture
def client(server):
    with openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0) as c:
        yield c


class Gate:
    """Holds the engine before a given forward pass until the test lets it go."""

    def __init__(self, engine, after: int):
        self.engine, self.after, self.calls = engine, after, 0
        self.open, self.reached = threading.Event(), threading.Event()
        self.forward = engine.runner.forward
        engine.runner.forward = self

    def __call__(self, *args):
        self.calls += 1
        if self.calls > self.after:
            self.reached.set()
            assert self.open.wait(60)
        return self.forward(*args)

    def release(self) -> None:
        self.open.set()
        self.engine.runner.forward = self.forward


def _model(server):
    return server.state.pool.base_id


def test_a_stream_sends_each_token_as_it_is_made(client, server):
    gate = Gate(server.state.engine, after=4)
    stream = client.chat.completions.create(model=_model(server), messages=MSGS, max_tokens=32, temperature=0,
                                            stream=True, stream_options={"include_usage": True})
    chunks = []
    for chunk in stream:
        chunks.append(chunk)
        if chunk.choices and chunk.choices[0].delta.content:
            break
    assert gate.reached.wait(30)
    assert server.state.engine.sched.running  # the first token is here while the answer is still running
    gate.release()
    chunks += list(stream)
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    usage = chunks[-1].usage
    # random bytes of the tiny model are sometimes half a character: those wait for the next token
    assert chunks[-1].choices == [] and usage.completion_tokens >= len(texts) >= 2
    plain = client.chat.completions.create(model=_model(server), messages=MSGS, max_tokens=32, temperature=0)
    assert "".join(texts) == plain.choices[0].message.content


def test_finish_reason_comes_from_the_engine(client, server):
    long = client.chat.completions.create(model=_model(server), messages=MSGS, max_tokens=40, temperature=0)
    text = long.choices[0].message.content
    assert len(text) > 4
    short = client.chat.completions.create(model=_model(server), messages=MSGS, max_tokens=2, temperature=0)
    assert short.choices[0].finish_reason == "length" and short.usage.completion_tokens == 2
    stopped = client.chat.completions.create(model=_model(server), messages=MSGS, max_tokens=40, temperature=0,
                                             stop=[text[2:4]])
    assert stopped.choices[0].finish_reason == "stop"
    assert stopped.choices[0].message.content == text[: text.index(text[2:4])]


def test_a_client_that_goes_away_leaves_the_batch(server):
    engine = server.state.engine
    dropped, hung_up, abort = [], threading.Event(), engine.abort
    engine.abort = lambda r: (dropped.append(r), abort(r), hung_up.set())
    gate = Gate(engine, after=1)  # the prefill step makes the first token; later steps wait for the test
    body = {"model": _model(server), "messages": MSGS, "max_tokens": 60, "stream": True, "temperature": 0,
            "ignore_eos": True}
    try:
        with httpx.stream("POST", server.url + "/v1/chat/completions", json=body, timeout=30) as r:
            for line in r.iter_lines():
                if line.startswith("data:") and '"content": ""' not in line and "role" not in line:
                    break  # one real token, then hang up
        assert hung_up.wait(30)
    finally:
        gate.release()
        engine.abort = abort
    done = threading.Event()
    engine.submit([1, 2, 3], engine_sampling(), on_done=lambda _: done.set())
    assert done.wait(30)
    gone = dropped[0]
    assert gone.finish == "abort" and len(gone.tokens) - gone.prompt_len < 60
    assert engine.sched.running == [] and engine.stats()["aborted"] >= 1


def engine_sampling():
    from ils.infer.protocol import Sampling

    return Sampling(max_new_tokens=2)


def test_an_engine_fault_fails_only_its_requests(client, server):
    engine, calls = server.state.engine, []
    forward = engine.runner.forward

    def broken(*args):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("simulated fault")
        return forward(*args)

    engine.runner.forward = broken
    try:
        with pytest.raises(openai.InternalServerError) as e:
            client.chat.completions.create(model=_model(server), messages=MSGS, max_tokens=4)
        assert e.value.body["code"] == "engine_error" and "simulated fault" in e.value.body["message"]
    finally:
        engine.runner.forward = forward
    assert client.chat.completions.create(model=_model(server), messages=MSGS, max_tokens=4).choices


@pytest.mark.parametrize("change, code", [
    ({"seed": 2 ** 64}, "invalid_value"),
    ({"seed": -(2 ** 63) - 1}, "invalid_value"),
    ({"max_tokens": 65}, "max_tokens_exceeded"),
    ({"messages": [{"role": "user", "content": "\ud800"}]}, "invalid_value"),
    ({"stop": ["a", "\udfff"]}, "invalid_value"),
    ({"messages": [{"role": "user", "content": "hello " * 300}]}, "context_length_exceeded"),
])
def test_bad_requests_are_400_before_anything_is_queued(server, change, code):
    steps = server.state.engine.stats()["steps"]
    body = json.dumps({"model": _model(server), "messages": MSGS, "max_tokens": 4, **change}).encode()
    r = httpx.post(server.url + "/v1/chat/completions", content=body,
                   headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == code, r.text
    assert server.state.engine.stats()["steps"] == steps
    again = httpx.post(server.url + "/v1/chat/completions", json={"model": _model(server), "messages": MSGS,
                                                                  "max_tokens": 2})
    assert again.status_code == 200
