"""Concurrent streaming chat clients for any OpenAI-compatible server (vLLM, ``ils serve``): serving figures.

Standard library only (threads + urllib reading the SSE stream), so the same client runs against every
server from any environment and adds nothing to what is measured but one JSON parse per chunk. Per
answer it records the time to the first content chunk, the number of content chunks and the completion
tokens from the final usage chunk (``stream_options.include_usage``); per round, completion tokens/s
over the wall time from the common start to the last answer.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
import urllib.request
from collections.abc import Sequence

PROMPTS = ["Write a short story about a lighthouse keeper.", "Explain how rain forms, step by step.",
           "Describe a walk through a city market in the morning.", "Write a poem about the sea.",
           "Give advice to someone starting to learn the piano.",
           "Explain what a computer does when it boots.", "Describe your ideal weekend in detail.",
           "Write a letter to a friend about a trip to the mountains."]  # bench/serve.py's prompts


def stream_chat(url: str, model: str, prompt: str, max_tokens: int, ignore_eos: bool = True,
                timeout: float = 600) -> dict:
    """One streamed, greedy chat request. ``ignore_eos`` (a vLLM sampling parameter in the request body)
    makes every answer exactly ``max_tokens`` long, so servers are compared on equal work."""
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
            "temperature": 0, "stream": True, "stream_options": {"include_usage": True}}
    if ignore_eos:
        body["ignore_eos"] = True
    req = urllib.request.Request(url.rstrip("/") + "/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", "Authorization": "Bearer x"})
    start, first, chunks, text, usage = time.perf_counter(), None, 0, [], None
    with urllib.request.urlopen(req, timeout=timeout) as r:
        for line in r:
            event = _event(line)
            if event is None:
                continue
            usage = event.get("usage") or usage
            delta = event["choices"][0].get("delta", {}).get("content") if event.get("choices") else None
            if delta:
                first = first if first is not None else time.perf_counter() - start
                chunks += 1
                text.append(delta)
    return {"text": "".join(text), "ttft_s": first, "latency_s": time.perf_counter() - start,
            "chunks": chunks, "completion_tokens": (usage or {}).get("completion_tokens", 0)}


def _event(line: bytes) -> dict | None:
    data = line.decode().strip()
    if not data.startswith("data:"):
        return None
    data = data.removeprefix("data:").strip()
    return None if data == "[DONE]" else json.loads(data)


def run_clients(url: str, model: str, clients: int, max_tokens: int, prompts: Sequence[str] = PROMPTS,
                ignore_eos: bool = True) -> dict:
    """``clients`` threads released together, one streamed request each; the round's figures."""
    results: list[dict] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(clients + 1)

    def one(i: int) -> None:
        barrier.wait()
        try:
            results.append(stream_chat(url, model, prompts[i % len(prompts)], max_tokens, ignore_eos))
        except BaseException as e:  # reported with the round, not lost in a thread
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} of {clients} requests failed; first: {errors[0]!r}")
    return summarize(results, time.perf_counter() - start)


def summarize(results: list[dict], wall_s: float) -> dict:
    tokens = sum(r["completion_tokens"] for r in results)
    return {"clients": len(results), "wall_s": wall_s, "completion_tokens": tokens, "tok_s": tokens / wall_s,
            "ttft_p50_s": statistics.median(r["ttft_s"] for r in results),
            "latency_p50_s": statistics.median(r["latency_s"] for r in results),
            "chunks_per_answer": statistics.mean(r["chunks"] for r in results),
            "tokens_per_answer": tokens / len(results)}
