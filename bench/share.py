"""Serving and training on one machine: ``ils serve`` answering streaming clients while ``ils loop`` trains.

Each figure is the throughput a job keeps beside the other, as a share of what it has alone with the
whole machine: the server's completion tokens/s (``--clients`` streaming clients, ``--max-tokens``
each, rounds back to back) and the loop's training tokens/s (its ``metrics.jsonl``, median over
steps). Three setups: each job alone (all CPUs); both at once pinned to disjoint CPUs
(``ILS_CPUS=0`` for the server, ``ILS_CPUS=1`` for the loop: what docs/serving.md recommends); and both
at once unpinned, each with a thread per CPU (what happens without the setting). Run alone:

    PYTHONPATH=src python bench/share.py --clients 16 --max-tokens 64 --steps 30
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import load  # noqa: E402
from serve import ils_server  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def ils(args: list[str], cpus: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "ILS_CPUS": cpus}
    env.pop("OMP_NUM_THREADS", None), env.pop("ILS_THREADS", None)
    return subprocess.Popen([sys.executable, "-m", "ils.cli", *args], env=env, **kw)


def prepare(work: Path, url: str) -> tuple[Path, str]:
    """Procedural data, and feedback in the server's store: corrected answers to 64 of its prompts."""
    data = work / "data"
    subprocess.run([sys.executable, "-m", "ils.cli", "data", "procedural", "-o", str(data), "--n", "40"],
                   env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, check=True, capture_output=True)
    rows = [json.loads(x) for x in (data / "train.jsonl").read_text().splitlines()[:64]]
    for row in rows:
        msgs = [m for m in row["messages"] if m["role"] != "assistant"]
        reply = _post(url + "/chat/completions", {"model": "default", "messages": msgs, "max_tokens": 16})
        _post(url.removesuffix("/v1") + "/v1/feedback", {"completion_id": reply["id"], "rating": -1,
                                                          "correction": row["messages"][-1]["content"]})
    return data, str(data)


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req, timeout=300).read())


def train_rate(out: Path) -> float:
    """Median training tokens/s of the loop's run (its first steps dropped: warm-up)."""
    files = sorted(out.rglob("metrics.jsonl"))
    steps = [json.loads(x) for f in files for x in f.read_text().splitlines()]
    rates = [m["tok_per_s"] for m in steps if "tok_per_s" in m][2:]
    return statistics.median(rates) if rates else float("nan")


def run_loop(cpus: str, db: str, data: Path, out: Path, steps: int) -> subprocess.Popen:
    return ils(["loop", "--regression", str(data), "--replay", str(data), "--db", db, "--output", str(out),
                "--max-steps", str(steps), "--current", "default"], cpus,
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def serve_while(url: str, proc: subprocess.Popen | None, clients: int, max_tokens: int, rounds: int) -> float:
    """Median serving tok/s over rounds run while ``proc`` lives (or ``rounds`` rounds if None)."""
    rates = []
    while (proc is None and len(rates) < rounds) or (proc is not None and proc.poll() is None):
        rates.append(load.run_clients(url, "default", clients, max_tokens)["tok_s"])
    return statistics.median(rates) if rates else float("nan")


def setup(label: str, serve_cpus: str, loop_cpus: str | None, args, work: Path) -> dict:
    home = work / label
    with ils_server(serve_cpus, []) as (url, _, db):
        data, _ = prepare(home, url)
        if loop_cpus is None:
            return {"serve": serve_while(url, None, args.clients, args.max_tokens, args.rounds)}
        loop = run_loop(loop_cpus, db, data, home / "loop", args.steps)
        served = serve_while(url, loop, args.clients, args.max_tokens, args.rounds)
    return {"serve": served, "train": train_rate(home / "loop")}


def train_alone(args, work: Path) -> float:
    home = work / "train-alone"
    with ils_server("0-1", []) as (url, _, db):
        data, _ = prepare(home, url)
    run_loop("0-1", db, data, home / "loop", args.steps).wait()
    return train_rate(home / "loop")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=30, help="training steps of the loop")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ils-share-"))
    alone = {"serve": setup("serve-alone", "0-1", None, args, work)["serve"], "train": train_alone(args, work)}
    rows = {"pinned (serve on CPU 0, loop on CPU 1)": setup("pinned", "0", "1", args, work),
            "unpinned (both on CPUs 0-1)": setup("unpinned", "0-1", "0-1", args, work)}
    print(f"alone: serve {alone['serve']:.1f} tok/s ({args.clients} clients), train {alone['train']:.1f} tok/s")
    print(f"{'setup':42}{'serve tok/s':>12}{'kept':>8}{'train tok/s':>12}{'kept':>8}")
    for name, r in rows.items():
        print(f"{name:42}{r['serve']:12.1f}{r['serve'] / alone['serve']:8.0%}{r['train']:12.1f}"
              f"{r['train'] / alone['train']:8.0%}")


if __name__ == "__main__":
    main()
