"""Scale-out: ``ils eval --engine openai:URL1,URL2`` against two ``ils serve`` replicas vs one.

Each replica is an ``ils serve`` of the default model pinned to its own CPU (a stand-in for a machine
of a fleet); the evaluation — SST-2 dev zero-shot, generation and likelihood scoring — runs in this
process through the ``openai:`` engine, which spreads requests round robin over the URLs. Reports
the wall time with one replica, with two, and the ratio (target: two take at most 0.6x the time).
Needs ../shared/data. Run alone:

    PYTHONPATH=src python bench/scale_out.py --limit 872 --rounds 1
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve import ils_server  # noqa: E402
from sst2_eval import DATA, SST2, read_tsv  # noqa: E402


def evaluate(urls: list[str], dev: list, out: Path, batch: int) -> float:
    from ils.evaluate.modes import evaluate_modes
    from ils.infer.protocol import Sampling

    start = time.perf_counter()
    evaluate_modes(dev, ["zero-shot"], out, "default", None, Sampling(max_new_tokens=8), batch_size=batch,
                   progress=False, engine="openai:" + ",".join(urls))
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=None, help="dev sentences (default all 872)")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32, help="requests in flight per replica")
    args = ap.parse_args()
    from ils.tasks import TASKS

    TASKS.add(SST2())
    dev = read_tsv(DATA / "dev.tsv", args.limit)
    work = Path(tempfile.mkdtemp(prefix="ils-scale-"))
    times: dict[str, list[float]] = {"one replica (CPU 0)": [], "two replicas (CPUs 0, 1)": []}
    with contextlib.ExitStack() as stack:
        urls = [stack.enter_context(ils_server(cpu, []))[0] for cpu in ("0", "1")]
        evaluate(urls, dev[:16], work / "warm", args.batch_size)
        for r in range(args.rounds):
            times["one replica (CPU 0)"].append(evaluate(urls[:1], dev, work / f"one-{r}", args.batch_size))
            times["two replicas (CPUs 0, 1)"].append(evaluate(urls, dev, work / f"two-{r}", args.batch_size))
    one, two = (statistics.median(t) for t in times.values())
    print(f"SST-2 dev zero-shot ({len(dev)} sentences, parsed + likelihood) through --engine openai:")
    for name, t in times.items():
        print(f"  {name:28} {statistics.median(t):7.1f} s")
    print(f"  two / one: {two / one:.2f}x the time")


if __name__ == "__main__":
    main()
