"""The endpoint backend against a real HTTP server on 127.0.0.1 that returns scripted answers."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fakes import Scripted, seed_file
from ils.errors import ConfigError
from ils.generate import SelfInstructConfig, run
from ils.generate.backends import Failed, GenerationError, OpenAIBackend, Params, make_backend


def completion(text: str) -> dict:
    return {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


class Server:
    """Replies from ``script`` (a list of (status, body) popped per request), else from ``answer``."""

    def __init__(self, answer=None):
        self.script, self.requests, self.answer = [], [], answer or (lambda prompt: "ok")
        srv = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                srv.requests.append((self.path, self.headers.get("Authorization"), body))
                status, reply = srv.script.pop(0) if srv.script else (200, completion(
                    srv.answer(body["messages"][-1]["content"])))
                data = reply.encode() if isinstance(reply, str) else json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("TEST_KEY", "sk-test")


def backend(url, **kw):
    kw = {"key_env": "TEST_KEY", "backoff": 0.0, "sleep": lambda s: None, "timeout": 10.0, **kw}
    return OpenAIBackend(url, model="m", **kw)


def test_answers_in_order_with_key_and_model(server):
    server.answer = lambda p: p.upper()
    outs = backend(server.url, concurrency=3).generate([f"p{i}" for i in range(7)], Params(8))
    assert outs == [f"P{i}" for i in range(7)]
    path, auth, body = server.requests[0]
    assert path == "/v1/chat/completions" and auth == "Bearer sk-test" and body["model"] == "m"


def test_retries_errors_and_garbage_with_backoff(server):
    server.script = [(500, {"error": {"message": "boom"}}), (200, "<html>garbage</html>"), (429, {"error": {}})]
    waits = []
    b = backend(server.url, retries=3, backoff=0.5, sleep=waits.append)
    assert b.generate(["x"], Params()) == ["ok"]
    assert len(server.requests) == 4 and waits == [0.5, 1.0, 2.0] and b.requests == 4


def test_gives_up_after_retries_and_client_errors_are_not_retried(server):
    server.script = [(503, {"error": {}})] * 3
    (out,) = backend(server.url, retries=2).generate(["x"], Params())
    assert out == Failed(f"openai engine, model 'm': failed after 3 attempts; last: {server.url}: HTTP 503")
    server.script = [(400, {"error": {"message": "bad"}})]
    n = len(server.requests)
    (out,) = backend(server.url).generate(["x"], Params())
    assert isinstance(out, Failed) and f"{server.url}: HTTP 400" in out.reason and len(server.requests) == n + 1


def test_rejected_key_stops_with_clear_error(server):
    server.script = [(401, {"error": {"message": "bad key"}})]
    with pytest.raises(GenerationError, match="rejected the key"):
        backend(server.url).generate(["x"], Params())


def test_request_budget(server):
    b = backend(server.url, budget=2, concurrency=1)
    outs = b.generate(["a", "b", "c"], Params())
    assert outs[:2] == ["ok", "ok"] and outs[2] == Failed("request budget exhausted") and b.exhausted


def test_missing_key_and_bad_url(monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    with pytest.raises(ConfigError, match="NO_SUCH_KEY is not set"):
        OpenAIBackend("http://127.0.0.1:9/v1", key_env="NO_SUCH_KEY")
    with pytest.raises(ConfigError, match="openai:http"):
        make_backend("openai:localhost:8000")


def test_unreachable_endpoint_fails_the_loop_without_losing_records(tmp_path):
    s = Server()
    url = s.url
    s.close()  # nothing listens there any more
    (out,) = backend(url, retries=1).generate(["x"], Params())
    assert isinstance(out, Failed) and f"{url}: cannot connect" in out.reason
    with pytest.raises(GenerationError, match="every request"):
        run(seed_file(tmp_path), tmp_path / "ds", SelfInstructConfig(n=2, prompts_per_round=2), backend(url, retries=0))


def test_full_loop_through_the_endpoint_and_resume(tmp_path):
    script = Scripted()
    s = Server(answer=lambda p: script._one(p))
    try:
        out = tmp_path / "ds"
        man = run(seed_file(tmp_path), out, SelfInstructConfig(n=4, prompts_per_round=2),
                  backend(s.url, concurrency=1))
        assert man["kept_tasks"] >= 4 and man["backend"] == f"openai:{s.url}"
        man2 = run(seed_file(tmp_path), out, SelfInstructConfig(n=6, prompts_per_round=2),
                   backend(s.url, concurrency=1))
        ids = [json.loads(x)["id"] for x in (out / "work" / "generated.jsonl").read_text().splitlines()]
        assert man2["kept_tasks"] == len(ids) == len(set(ids)) >= 6
    finally:
        s.close()
