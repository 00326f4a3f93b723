"""The openai: engine against small fake OpenAI-compatible servers on 127.0.0.1 (round robin, retries,
500s, timeouts, unknown models, prompt log-probs) and against a real ``ils serve`` (greedy parity)."""

from __future__ import annotations

import threading

import pytest
from serve_helpers import ThreadServer, bound_socket

from ils.infer.backends.openai_compat import parse_urls
from ils.infer.engines import engine_names, load_engine
from ils.infer.protocol import EngineError, Sampling


def char_logprob(c: str) -> float:
    return -(ord(c) % 7 + 1) / 10


class Fake:
    """One server: answers "NAME:<last user text>", serves model "tiny"; can fail, stall or lack log-probs."""

    def __init__(self, name: str, fail: int = 0, stall: bool = False, logprobs: bool = True):
        import uvicorn
        from fastapi import Body, FastAPI
        from fastapi.responses import JSONResponse

        self.name, self.fail, self.stall, self.logprobs, self.hits = name, fail, stall, logprobs, 0
        self.release = threading.Event()
        app = FastAPI()
        app.get("/v1/models")(lambda: {"object": "list", "data": [{"id": "tiny", "object": "model",
                                                                   "max_model_len": 300}]})

        @app.post("/v1/chat/completions")
        def chat(body: dict = Body(...)):
            return self.answer(body, body["messages"][-1]["content"], JSONResponse)

        @app.post("/v1/completions")
        def completions(body: dict = Body(...)):
            return self.answer(body, body["prompt"], JSONResponse)

        self.sock = bound_socket()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()

    def answer(self, body: dict, content: str, respond):
        self.hits += 1
        if body["model"] != "tiny":  # what vLLM answers for a model it does not serve
            return respond({"error": {"message": f"The model `{body['model']}` does not exist.",
                                      "type": "NotFoundError", "code": 404}}, 404)
        if self.fail:
            self.fail -= 1
            return respond({"error": {"message": "engine crashed"}}, 500)
        if self.stall:
            self.release.wait(10)
        if body.get("echo"):
            return self.echo(content)
        text = f"{self.name}:{content}"
        for stop in body.get("stop") or []:
            text = text.split(stop)[0]
        cut = text[: body["max_tokens"]]
        choice = {"index": 0, "finish_reason": "length" if len(cut) < len(text) else "stop",
                  "message": {"role": "assistant", "content": cut}, "text": cut}
        return {"id": "x", "object": "chat.completion", "created": 0, "model": "tiny", "choices": [choice],
                "usage": {"prompt_tokens": len(content), "completion_tokens": len(cut),
                          "total_tokens": len(content) + len(cut)}}

    def echo(self, prompt: str) -> dict:
        """Prompt log-probs as vLLM returns them: one token per character after a BOS token whose text
        ("<s>") vLLM counts in the offsets, then one generated token."""
        chars = ["<s>", *prompt, "!"]
        lp = {"tokens": chars, "token_logprobs": [None] + [char_logprob(c) for c in chars[1:]],
              "text_offset": [0, *range(3, 3 + len(chars) - 1)], "top_logprobs": None}
        return {"id": "x", "object": "text_completion", "created": 0, "model": "tiny",
                "choices": [{"index": 0, "text": prompt + "!", "finish_reason": "length",
                             "logprobs": lp if self.logprobs else None}]}

    def stop(self) -> None:
        self.release.set()
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


@pytest.fixture
def fakes():
    made: list[Fake] = []

    def make(*args, **kw) -> Fake:
        made.append(Fake(*args, **kw))
        return made[-1]

    yield make
    for f in made:
        f.stop()


def dead_url() -> str:
    sock = bound_socket()
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there any more: connection refused
    return f"http://127.0.0.1:{port}/v1"


def engine(urls: list[str], model: str = "tiny", **kw):
    return load_engine(model, "openai:" + ",".join(urls), **{"backoff": 0, "retries": 3, **kw})


def chats(n: int) -> list[list[dict]]:
    return [[{"role": "user", "content": f"q{i}"}] for i in range(n)]


def test_registered_and_urls_parsed():
    assert {"hf", "llamacpp", "openai"} <= set(engine_names())
    assert parse_urls("http://a:1, https://b/v1/") == ["http://a:1/v1", "https://b/v1"]
    with pytest.raises(EngineError, match="no URL given"):
        parse_urls("")
    with pytest.raises(EngineError, match="'ftp://x' is not an http"):
        parse_urls("ftp://x")


def test_round_robin_over_urls_keeps_prompt_order(fakes):
    a, b = fakes("A"), fakes("B")
    done = engine([a.url, b.url], concurrency=1).generate(chats(4), Sampling(max_new_tokens=20))
    assert [c.text.split(":")[1] for c in done] == ["q0", "q1", "q2", "q3"]
    assert sorted(c.text[0] for c in done) == ["A", "A", "B", "B"] and a.hits == b.hits == 2
    assert all(c.finish_reason == "stop" and c.completion_tokens == len(c.text) for c in done)


def test_raw_prompts_stop_strings_and_length(fakes):
    a = fakes("A")
    e = engine([a.url])
    out = e.generate(["hello world", "abcdef"], [Sampling(max_new_tokens=40, stop=(" wor",)),
                                                 Sampling(max_new_tokens=4)])
    assert (out[0].text, out[0].finish_reason) == ("A:hello", "stop")
    assert (out[1].text, out[1].finish_reason) == ("A:ab", "length")


def test_retries_back_off_exponentially_then_succeed(fakes):
    a, sleeps = fakes("A", fail=2), []
    done = engine([a.url], backoff=0.5, sleep=sleeps.append).generate(chats(1), Sampling(max_new_tokens=9))
    assert done[0].text == "A:q0" and a.hits == 3 and sleeps == [0.5, 1.0]


def test_a_dead_replica_costs_a_retry_not_an_answer(fakes):
    alive = fakes("B")
    done = engine([dead_url(), alive.url]).generate(chats(4), Sampling(max_new_tokens=9))
    assert [c.text for c in done] == ["B:q0", "B:q1", "B:q2", "B:q3"]


def test_server_errors_name_the_url(fakes):
    broken = fakes("A", fail=100)
    last = rf"{broken.url}: HTTP 500: engine crashed"
    with pytest.raises(EngineError, match=rf"failed after 3 attempts; last: {last}"):
        engine([broken.url], retries=2).generate(chats(1))
    url = dead_url()
    with pytest.raises(EngineError, match=rf"{url}: cannot connect"):
        engine([url], retries=1).generate(chats(1))


def test_timeout_names_the_url(fakes):
    slow = fakes("A", stall=True)
    with pytest.raises(EngineError, match=rf"{slow.url}: no answer within 0.3 s \(timeout\)"):
        engine([slow.url], retries=0, timeout=0.3).generate(chats(1))


def test_unknown_model_is_fatal_and_lists_the_served_ones(fakes):
    a = fakes("A")
    served = rf"{a.url}: the server does not serve model 'big'; it serves: tiny"
    with pytest.raises(EngineError, match=served):
        engine([a.url], model="big", on_error="return").generate(chats(2))


def test_on_error_return_gives_error_completions_and_budget_stops(fakes):
    broken = fakes("A", fail=100)
    done = engine([broken.url], retries=1, on_error="return").generate(chats(2))
    assert [c.finish_reason for c in done] == ["error", "error"] and "HTTP 500" in done[0].error
    ok = fakes("B")
    e = engine([ok.url], budget=2, on_error="return")
    done = e.generate(chats(3), Sampling(max_new_tokens=9))
    assert sum(c.finish_reason == "error" for c in done) == 1 and e.exhausted and e.requests == 2


def test_score_sums_the_option_prompt_logprobs(fakes):
    a = fakes("A")
    e = engine([a.url])
    got = e.score(["Say: ", "x"], [["yes", "no"], ["ab"]])
    want = [[sum(map(char_logprob, "yes")), sum(map(char_logprob, "no"))], [sum(map(char_logprob, "ab"))]]
    assert [pytest.approx(w) for w in want] == got
    assert e.context == 300  # vLLM's max_model_len
    with pytest.raises(EngineError, match="needs tokenizer=MODEL"):
        e.score([[{"role": "user", "content": "hi"}]], [["a"]])


def test_score_without_logprobs_is_a_clear_error(fakes):
    a = fakes("A", logprobs=False)
    with pytest.raises(EngineError, match=rf"{a.url}: the server returned no prompt log-probs"):
        engine([a.url]).score(["p"], [["a", "b"]])


def test_greedy_parity_with_hf_through_ils_serve(tiny_llama, tmp_path):
    import httpx

    from ils.serve.run import ServeOptions

    srv = ThreadServer(ServeOptions(model=str(tiny_llama), db=f"sqlite:///{tmp_path / 's.sqlite'}",
                                    max_tokens=16))
    try:
        served = httpx.get(srv.url + "/v1/models").json()["data"][0]["id"]
        prompts = [[{"role": "user", "content": t}] for t in ("Add 2 and 3.", "hello world", "Sort 5, 1, 4.")]
        s = Sampling(max_new_tokens=8)
        remote = engine([srv.url + "/v1"], model=served, tokenizer=str(tiny_llama))
        local = load_engine(str(tiny_llama), "hf")
        assert [c.text for c in remote.generate(prompts, s)] == [c.text for c in local.generate(prompts, s)]
        assert remote.count_tokens(prompts[0]) == local.count_tokens(prompts[0])
        assert remote.context == local.context  # /v1/models says max_model_len, as vLLM does
        # ils serve echoes prompt log-probs: the same option scores as in-process (options tokenized
        # with the prompt by the server, so compare options that start a new token: a leading space)
        raw = ["The answer is", "Add 2 and 3 =", "hello"]
        got, want = remote.score(raw, [[" 5", " 6 7"]] * 3), local.score(raw, [[" 5", " 6 7"]] * 3)
        for g, w in zip(got, want):
            assert g == pytest.approx(w, abs=1e-3)
    finally:
        srv.stop()
