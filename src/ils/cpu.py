"""The cores a process may use and the number format its matrix units are fast at.

Threads come from ``--threads`` / ``ILS_THREADS``, else from the CPU affinity (``taskset -c 1 ils
serve`` uses one thread, not the machine's count): torch's worker threads spin while they wait, so
two processes that each start a thread per core on the same cores slow each other many times over;
pinned to disjoint cores (``ILS_CPUS=0`` for the server, ``ILS_CPUS=1`` for training) each keeps its
own speed. bfloat16 is the default only where the CPU multiplies it natively (AVX512-BF16 or AMX):
elsewhere torch emulates it and it is several times slower than float32.
"""

from __future__ import annotations

import os
import sys

from ils.errors import ConfigError


def parse_cpus(spec: str) -> set[int]:
    """``0``, ``0-3``, ``0,2`` → the CPU numbers."""
    cpus: set[int] = set()
    try:
        for part in filter(None, (p.strip() for p in spec.split(","))):
            lo, _, hi = part.partition("-")
            cpus.update(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise ConfigError(f"--cpus / ILS_CPUS: {spec!r} is not a CPU list such as 0, 0-3 or 0,2") from None
    if not cpus:
        raise ConfigError(f"--cpus / ILS_CPUS: {spec!r} names no CPU")
    return cpus


def configure(cpus: str | None = None, threads: int | None = None) -> int:
    """Pin the process to ``cpus`` (if given) and use one compute thread per usable core; returns it.

    Before torch is imported this sets OMP_NUM_THREADS (read once at import), after it calls
    ``torch.set_num_threads``; either way the CLI can call it first thing, for every command."""
    cpus = cpus or os.environ.get("ILS_CPUS")
    if cpus:
        try:
            os.sched_setaffinity(0, parse_cpus(cpus))
        except OSError as e:
            raise ConfigError(f"--cpus / ILS_CPUS: cannot use CPUs {cpus}: {e.strerror}") from None
    n = threads or int(os.environ.get("ILS_THREADS", "0") or 0)
    if n < 0 or (n == 0 and threads is not None):
        raise ConfigError(f"--threads / ILS_THREADS: {n} must be at least 1")
    n = n or int(os.environ.get("OMP_NUM_THREADS", "0") or 0) or usable_cores()
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    else:
        os.environ["OMP_NUM_THREADS"] = str(n)
    return n


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def has_bf16_units() -> bool:
    import torch

    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(cpu, name, lambda: False)() for name in checks)


def default_dtype(requested: str = "auto") -> str:
    """``auto`` → bfloat16 on CPUs with bf16 units, float32 elsewhere; an explicit choice is kept."""
    if requested not in ("auto", "float32", "bfloat16"):
        raise ConfigError(f"--dtype: {requested!r}; expected auto, float32 or bfloat16")
    if requested != "auto":
        return requested
    return "bfloat16" if has_bf16_units() else "float32"
