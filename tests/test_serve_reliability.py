"""Durability and batching under load: SIGKILL during a feedback burst, and the batcher's grouping."""

from __future__ import annotations

import os
import signal
import threading

import httpx
import openai
import pytest
from serve_helpers import subprocess_server

PG_URL = os.environ.get("ILS_TEST_PG_URL")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sigkill_during_feedback_burst_keeps_every_acknowledged_row(backend, tiny_llama, tmp_path):
    from ils.store import open_store

    if backend == "postgresql":
        if not PG_URL:
            pytest.skip("no PostgreSQL server: set ILS_TEST_PG_URL (.ci/postgres.sh starts one)")
        from test_store import _reset_pg

        _reset_pg(PG_URL)
    db = PG_URL if backend == "postgresql" else f"sqlite:///{tmp_path / 'store.sqlite'}"
    proc, port = subprocess_server(str(tiny_llama), db, ["--max-tokens", "4"])
    url = f"http://127.0.0.1:{port}"
    try:
        with openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0, timeout=120) as c:
            cid = c.chat.completions.create(model=c.models.list().data[0].id,
                                            messages=[{"role": "user", "content": "hi"}]).id
        acked, enough = _burst(url, cid, kill_after=40)
        assert enough.is_set()
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    stored = {r["id"] for r in open_store(db).feedback()}
    assert acked and set(acked) <= stored


def _burst(url: str, cid: str, kill_after: int) -> tuple[list[int], threading.Event]:
    acked: list[int] = []
    enough = threading.Event()

    def post_until_dead() -> None:
        with httpx.Client(timeout=30) as h:
            for i in range(10_000):
                try:
                    r = h.post(url + "/v1/feedback", json={"completion_id": cid, "rating": 1, "comment": str(i)})
                except httpx.HTTPError:
                    return
                if r.status_code == 200:
                    acked.append(r.json()["id"])
                if len(acked) >= kill_after:
                    enough.set()

    threads = [threading.Thread(target=post_until_dead) for _ in range(4)]
    for t in threads:
        t.start()
    enough.wait(timeout=300)
    return acked, enough
