"""Durability and batching under load: SIGKILL during a feedback burst, and the batcher's grouping."""

from __future__ import annotations

import asyncio
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


class FakePool:
    """Stands in for a model: records the batches it was given; blocks until released."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.release = threading.Event()

    def generate(self, adapter, kind, items, sampling):
        self.release.wait(timeout=60)
        self.calls.append((adapter, kind, len(items)))
        if "boom" in items:
            raise RuntimeError("engine failed")
        return [f"{adapter}:{x}" for x in items]


def test_batcher_groups_by_adapter_and_sampling_and_bounds_the_queue():
    from ils.infer.engine import Sampling
    from ils.serve.batching import Batcher, QueueFull

    pool = FakePool()
    batcher = Batcher(pool, max_queue=12)

    async def run():
        jobs = [asyncio.ensure_future(batcher.submit(a, "chat", [f"p{i}"], Sampling()))
                for i, a in enumerate(["x", "y"] * 5)]
        jobs.append(asyncio.ensure_future(batcher.submit("x", "chat", ["q"], Sampling(max_new_tokens=3))))
        await asyncio.sleep(0)  # let every submit enqueue before the worker is released
        with pytest.raises(QueueFull):
            await batcher.submit("x", "chat", ["a", "b"], Sampling())
        pool.release.set()
        return await asyncio.gather(*jobs)

    out = asyncio.run(run())
    assert out[0] == ["x:p0"] and out[1] == ["y:p1"] and out[-1] == ["x:q"]
    assert sum(n for *_, n in pool.calls) == 11 and len(pool.calls) <= 4  # first job, then 3 groups
    assert batcher.waiting == 0
    batcher.close()


def test_batcher_engine_error_reaches_each_request_and_worker_survives():
    from ils.infer.engine import Sampling
    from ils.serve.batching import Batcher

    pool = FakePool()
    pool.release.set()
    batcher = Batcher(pool)

    async def run():
        with pytest.raises(RuntimeError, match="engine failed"):
            await batcher.submit(None, "text", ["boom"], Sampling())
        return await batcher.submit(None, "text", ["fine"], Sampling())

    assert asyncio.run(run()) == ["None:fine"]
    batcher.close()
