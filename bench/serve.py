"""Serving: ``ils serve`` beside vLLM's CPU server, streaming clients, the same model, prompts and cores.

For each CPU set (``--cpus 0`` is one core, ``0-1`` two) both servers are started pinned to those
CPUs, then measured in turns, one at a time (the other is frozen with SIGSTOP so it takes no CPU):
``--clients`` concurrent streaming chat clients, greedy, exactly ``--max-tokens`` new tokens each
(``ignore_eos``, which both servers accept), rounds interleaved, medians reported. Per row: completion
tokens/s over the round's wall time, time to first token (p50), SSE chunks per answer. vLLM runs at
its defaults (``vllm serve MODEL``: it downcasts this float32 model to bfloat16) and at its best
settings here: float32 (this CPU has no bf16 units), and on two cores both one OpenMP thread per core
and one thread with the other core left to its HTTP front end (docs/serving-peers.md).
The memory row sends 64 concurrent prompts of ~1k tokens and reports the server's peak RSS and the
KV cache it used against its budget. Run alone on the machine:

    PYTHONPATH=src python bench/serve.py --cpus 0,0-1 --clients 16,32 --max-tokens 64 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import load, vllm  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LONG = ("The committee met on a grey morning to read the reports of the year, one region after another, "
        "and to weigh what each had asked for. ")


@contextmanager
def ils_server(cpus: str, extra: list[str]):
    """``ils serve`` on a free port, pinned to ``cpus`` (one thread per CPU), until the block ends."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    port = sock.getsockname()[1]
    db = Path(tempfile.mkdtemp(prefix="ils-bench-")) / "store.sqlite"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "ILS_CPUS": cpus}
    env.pop("ILS_THREADS", None), env.pop("OMP_NUM_THREADS", None)
    cmd = [sys.executable, "-m", "ils.cli", "serve", "--model", "default", "--db", f"sqlite:///{db}",
           "--fd", str(sock.fileno()), "--port", str(port), "--max-tokens", "1024", *extra]
    proc = subprocess.Popen(cmd, env=env, pass_fds=[sock.fileno()], start_new_session=True)
    sock.close()
    url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_ready(url, proc)
        yield url, proc.pid, f"sqlite:///{db}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"ils serve exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url + "/models", timeout=5).read()
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("ils serve did not answer in time")


@contextmanager
def frozen(pid: int):
    """The server's whole process group stopped (no CPU, no spinning) for the duration of the block."""
    os.killpg(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(pid, signal.SIGCONT)


def measure(servers: dict[str, tuple[str, str, int]], clients: list[int], max_tokens: int,
            rounds: int) -> dict:
    """Rounds interleaved across servers; each measured while the others are frozen."""
    out: dict = {(name, c): [] for name in servers for c in clients}
    for name, (url, model, _) in servers.items():  # warm-up: allocators, first-call setup
        with _others_frozen(servers, name):
            load.run_clients(url, model, max(clients), 8)
    for _ in range(rounds):
        for c in clients:
            for name, (url, model, _) in servers.items():
                with _others_frozen(servers, name):
                    out[(name, c)].append(load.run_clients(url, model, c, max_tokens))
    return out


@contextmanager
def _others_frozen(servers: dict, keep: str):
    pids = [pid for name, (_, _, pid) in servers.items() if name != keep]
    stack = [frozen(pid) for pid in pids]
    for f in stack:
        f.__enter__()
    try:
        yield
    finally:
        for f in reversed(stack):
            f.__exit__(None, None, None)


def memory_row(url: str, pid: int, n: int = 64, words: int = 800) -> dict:
    """``n`` concurrent prompts of about 1k tokens each: peak RSS and KV cache against the budget."""
    prompt = (LONG * (words // len(LONG.split()) + 1))[: words * 6]
    result = load.run_clients(url, "default", n, 16, prompts=[f"{i}. {prompt}" for i in range(n)])
    health = json.loads(urllib.request.urlopen(url.removesuffix("/v1") + "/health").read())
    return {"prompts": n, "tok_s": result["tok_s"], "peak_rss_mb": _peak_rss_mb(pid), **health.get("kv", {})}


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def report(cpus: str, results: dict, clients: list[int]) -> None:
    names = sorted({name for name, _ in results}, key=lambda n: (n != "ILS", n))
    print(f"\nCPUs {cpus} ({len(vllm.parse_cpus(cpus))} core(s)), median of rounds")
    print(f"{'server':24}{'clients':>8}{'tok/s':>9}{'min':>8}{'max':>8}{'TTFT p50':>10}{'chunks/ans':>11}"
          f"{'ILS/this':>10}")
    for c in clients:
        ils = statistics.median(r["tok_s"] for r in results[("ILS", c)])
        for name in names:
            rs = results[(name, c)]
            tok = [r["tok_s"] for r in rs]
            m = statistics.median(tok)
            print(f"{name:24}{c:8d}{m:9.1f}{min(tok):8.1f}{max(tok):8.1f}"
                  f"{statistics.median(r['ttft_p50_s'] for r in rs):9.2f}s"
                  f"{statistics.median(r['chunks_per_answer'] for r in rs):11.1f}{ils / m:9.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cpus", default="0,0-1", help="CPU sets, separated by commas of sets: 0 | 0-1")
    ap.add_argument("--clients", default="16,32")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-vllm", action="store_true", help="ILS only (no peer)")
    ap.add_argument("--memory", action="store_true", help="also the 64 x 1k-token memory row (ILS)")
    args = ap.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    for cpus in _cpu_sets(args.cpus):
        run_cpu_set(cpus, clients, args)


def _cpu_sets(spec: str) -> list[str]:
    """``0,0-1`` → ["0", "0-1"] (a set is a single CPU or a range)."""
    return [s for s in spec.split(",") if s]


def run_cpu_set(cpus: str, clients: list[int], args) -> None:
    """Both servers on ``cpus``; the clients on the other CPUs where there are any (else shared)."""
    from ils.models.sources import resolve

    rest = set(os.sched_getaffinity(0)) - set(vllm.parse_cpus(cpus))
    if rest:
        os.sched_setaffinity(0, rest)

    model_dir = str(resolve("default"))
    with ils_server(cpus, []) as (url, pid, _):
        servers = {"ILS": (url, "default", pid)}
        with _peers(model_dir, cpus, [] if args.no_vllm else peer_rows(cpus), servers):
            results = measure(servers, clients, args.max_tokens, args.rounds)
        report(cpus, results, clients)
        if args.memory:
            print("memory:", json.dumps(memory_row(url, pid)))


def peer_rows(cpus: str) -> list[tuple[str, dict]]:
    """vLLM at its defaults and at its best settings for these cores (each row named)."""
    rows = [("vLLM defaults (bf16)", dict(dtype=None, max_num_seqs=None)),
            ("vLLM float32", dict(dtype="float32"))]
    if len(vllm.parse_cpus(cpus)) > 1:
        rows.append(("vLLM float32, 1 thread", dict(dtype="float32", threads=1)))
    return rows


@contextmanager
def _peers(model_dir: str, cpus: str, peers: list[tuple[str, dict]], servers: dict):
    """Start each vLLM configuration (frozen while not measured); stop them at the end."""
    stack = []
    try:
        for name, options in peers:
            vllm.ensure_venv()
            ctx = vllm.serve(model_dir, _free_port(), cpus=cpus, **options)
            server = ctx.__enter__()
            stack.append(ctx)
            servers[name] = (server.url, server.model, server.pid)
        yield
    finally:
        for ctx in reversed(stack):
            ctx.__exit__(None, None, None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    main()
