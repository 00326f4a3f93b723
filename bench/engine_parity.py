"""Parity of the engines on a test set: exact match of greedy answers through ``hf`` (the run),
``llamacpp`` (its GGUF export) and ``openai:`` (pointed at ``ils serve`` of the run, a subprocess on
127.0.0.1). Target: each within 0.02 of the others; also prints how many answers are identical.

    python bench/engine_parity.py RUN DATA --gguf RUN.gguf [--limit 120] [--max-new-tokens 32]

DATA is a dataset folder (its test.jsonl), e.g. the demo's ``demo-out/data``; RUN.gguf comes from
``ils export RUN --gguf --quant q8_0 -o RUN.gguf``.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start_server(run: str, db: str) -> tuple[subprocess.Popen, str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-m", "ils.cli", "serve", "--model", run, "--db", db, "--fd", str(sock.fileno()),
           "--port", str(port), "--max-tokens", "64"]
    proc = subprocess.Popen(cmd, env=env, pass_fds=[sock.fileno()], stderr=subprocess.DEVNULL)
    sock.close()
    return proc, f"http://127.0.0.1:{port}/v1"


def served_model(url: str) -> str:
    import httpx

    for _ in range(600):  # the server loads the model first (up to a minute)
        try:
            return httpx.get(url + "/models", timeout=5).json()["data"][0]["id"]
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"ils serve at {url} did not come up")


def score(engine, records, sampling, out: Path) -> tuple[list[str], float, float]:
    import json

    from ils.evaluate.judge import headline_score
    from ils.evaluate.runner import evaluate

    start = time.perf_counter()
    report = evaluate(engine, records, out, sampling=sampling, progress=False, likelihood=False, strict=True)
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    return [r["output"] for r in rows], headline_score(report), time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("data", type=Path)
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    args = ap.parse_args()
    from ils.evaluate.modes import read_split
    from ils.infer.engines import load_engine
    from ils.infer.protocol import Sampling

    records, s = read_split(args.data, "test", args.limit), Sampling(max_new_tokens=args.max_new_tokens)
    proc, url = start_server(args.run, f"sqlite:///{Path(args.gguf).with_suffix('.parity.sqlite').resolve()}")
    try:
        engines = {"hf": load_engine(args.run, "hf"), "llamacpp": load_engine(args.gguf, "llamacpp"),
                   "openai (ils serve)": load_engine(served_model(url), "openai:" + url)}
        out = Path(args.gguf).with_suffix(".parity")
        results = {name: score(e, records, s, out / name.split()[0]) for name, e in engines.items()}
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    base = results["hf"][0]
    print(f"\n{len(records)} test records of {args.data}, greedy, {args.max_new_tokens} new tokens")
    print(f"{'engine':22}{'exact match':>12}{'vs hf':>8}{'same answer as hf':>19}{'seconds':>9}")
    for name, (outputs, em, secs) in results.items():
        same = sum(a == b for a, b in zip(outputs, base))
        print(f"{name:22}{em:12.3f}{em - results['hf'][1]:+8.3f}{same:>13}/{len(base):<5}{secs:9.1f}")


if __name__ == "__main__":
    main()
