"""Time of ``ils export`` on a run: the merged Hugging Face folder and the q8_0 GGUF (target: <= 60 s each).

Each export runs as a user runs it, ``python -m ils.cli export RUN ...`` in its own process (interpreter
start, imports, loading, merging, writing; for the GGUF also llama.cpp's converter in its process), one
at a time, rounds interleaved; prints the median wall time and the output size per kind.

    python bench/export.py RUN [--rounds 3] [--out bench-out/export]

RUN is a demo-like run (LoRA r=16 on all linear layers of the default model): docs/export.md shows how
to make one in 20 steps.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KINDS = {"merged": ["--merged"], "gguf-q8_0": ["--gguf", "--quant", "q8_0"]}


def size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def one(run: str, kind: str, out: Path) -> tuple[float, int]:
    dest = out / ("merged" if kind == "merged" else "model-q8_0.gguf")
    shutil.rmtree(dest, ignore_errors=True) if dest.is_dir() else dest.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ils.cli", "export", run, "-o", str(dest), *KINDS[kind]],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start, size(dest)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("bench-out/export"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    times: dict[str, list[float]] = {k: [] for k in KINDS}
    sizes: dict[str, int] = {}
    for r in range(args.rounds):
        for kind in KINDS:
            seconds, sizes[kind] = one(args.run, kind, args.out)
            times[kind].append(seconds)
            print(f"round {r + 1} {kind}: {seconds:.1f} s", flush=True)
    print(f"\n{'':12}{'median s':>10}{'min s':>8}{'max s':>8}{'size MB':>10}   target <= 60 s")
    for kind, ts in times.items():
        print(f"{kind:12}{statistics.median(ts):10.1f}{min(ts):8.1f}{max(ts):8.1f}{sizes[kind] / 1e6:10.1f}"
              f"   {'met' if statistics.median(ts) <= 60 else 'NOT met'}")


if __name__ == "__main__":
    main()
