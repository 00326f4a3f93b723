"""Serving throughput: 1 client at a time vs 16 concurrent clients against ``ils serve`` (official openai client).

Starts the real server (default model, subprocess, 127.0.0.1, free port), warms it up, then runs
rounds interleaved: one-at-a-time (``--requests`` requests back to back) and 16 clients at once (each
thread one request per turn). Reports completion tokens/s, p50/p95 latency and the throughput ratio;
the server batches concurrent requests into one ``generate`` call.

    nice -n 10 python bench/serve.py --rounds 1 --max-tokens 48
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ["Write a short story about a lighthouse keeper.", "Explain how rain forms, step by step.",
           "Describe a walk through a city market in the morning.", "Write a poem about the sea.",
           "Give advice to someone starting to learn the piano.", "Explain what a computer does when it boots.",
           "Describe your ideal weekend in detail.", "Write a letter to a friend about a trip to the mountains."]


def start_server(model: str, db: str) -> tuple[subprocess.Popen, str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    port = sock.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-m", "ils.cli", "serve", "--model", model, "--db", db, "--fd", str(sock.fileno()),
           "--port", str(port), "--batch-size", "16"]
    proc = subprocess.Popen(cmd, env=env, pass_fds=[sock.fileno()])
    sock.close()
    return proc, f"http://127.0.0.1:{port}/v1"


def one(client, model: str, prompt: str, max_tokens: int) -> tuple[float, int]:
    start = time.perf_counter()
    r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}],
                                       temperature=0, max_tokens=max_tokens)
    return time.perf_counter() - start, r.usage.completion_tokens


def sequential(client, model: str, n: int, max_tokens: int) -> tuple[float, list[float]]:
    start = time.perf_counter()
    results = [one(client, model, PROMPTS[i % len(PROMPTS)], max_tokens) for i in range(n)]
    wall = time.perf_counter() - start
    return sum(t for _, t in results) / wall, [lat for lat, _ in results]


def concurrent(clients: list, model: str, max_tokens: int) -> tuple[float, list[float]]:
    results: list[tuple[float, int]] = []
    barrier = threading.Barrier(len(clients))

    def run(i: int) -> None:
        barrier.wait()
        results.append(one(clients[i], model, PROMPTS[i % len(PROMPTS)], max_tokens))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients))]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    return sum(t for _, t in results) / wall, [lat for lat, _ in results]


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def main() -> None:
    import openai

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="default")
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--requests", type=int, default=8, help="one-at-a-time requests per round")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--max-tokens", type=int, default=48)
    args = p.parse_args()
    db = f"sqlite:///{ROOT / 'bench-out' / 'serve-bench.sqlite'}"
    proc, url = start_server(args.model, db)
    try:
        clients = [openai.OpenAI(base_url=url, api_key="x", max_retries=0, timeout=900) for _ in range(args.clients)]
        model = clients[0].models.list().data[0].id
        one(clients[0], model, PROMPTS[0], 8)  # warm-up
        seq, conc = [], []
        for _ in range(args.rounds):
            seq.append(sequential(clients[0], model, args.requests, args.max_tokens))
            conc.append(concurrent(clients, model, args.max_tokens))
        report(seq, conc, args)
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def report(seq: list, conc: list, args: argparse.Namespace) -> None:
    s_tps, c_tps = statistics.median(x for x, _ in seq), statistics.median(x for x, _ in conc)
    s_lat, c_lat = [lat for _, ls in seq for lat in ls], [lat for _, ls in conc for lat in ls]
    print(f"model {args.model}, max_tokens {args.max_tokens}, greedy, {args.rounds} round(s)")
    print("| clients | tokens/s | p50 latency s | p95 latency s |\n|---|---|---|---|")
    print(f"| 1 (one at a time) | {s_tps:.1f} | {pct(s_lat, .5):.2f} | {pct(s_lat, .95):.2f} |")
    print(f"| {args.clients} concurrent | {c_tps:.1f} | {pct(c_lat, .5):.2f} | {pct(c_lat, .95):.2f} |")
    print(f"throughput ratio: {c_tps / s_tps:.2f}x")


if __name__ == "__main__":
    main()
