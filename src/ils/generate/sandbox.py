"""Run untrusted generated code: a subprocess in a temp dir, with CPU, memory, file-size and
process limits, a wall-clock timeout, a scrubbed environment and no network.

Minimal on purpose: the evaluation sandbox for pass@k is being built elsewhere and the two will be
unified. No network comes from a fresh network namespace (``unshare -rn``, unprivileged user
namespaces) when the kernel allows it, and otherwise from a prelude that disables ``socket``
(weaker: C extensions could still connect; the report says which one was used).
"""

from __future__ import annotations

import functools
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

PRELUDE = ("import socket as _s\n"
           "def _no(*a, **k):\n    raise OSError('network is disabled in the sandbox')\n"
           "for _m in ('connect', 'connect_ex', 'bind', 'sendto'):\n    setattr(_s.socket, _m, _no)\n"
           "_s.getaddrinfo = _no\ndel _s, _no, _m\n")


@dataclass(frozen=True)
class RunResult:
    passed: bool
    reason: str  # "passed", "timeout", "exit code N: last stderr line"
    stdout: str = ""
    stderr: str = ""


@functools.lru_cache(maxsize=1)
def can_unshare() -> bool:
    exe = shutil.which("unshare")
    if not exe:
        return False
    try:
        return subprocess.run([exe, "-rn", "true"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _limits(cpu_s: int, memory_mb: int) -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
    mem = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_FSIZE, (10 << 20, 10 << 20))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    os.setsid()


def run_python(code: str, timeout: float = 10.0, memory_mb: int = 512) -> RunResult:
    """Run ``code`` with ``python -I`` in a fresh temp dir; passed means exit code 0 in time."""
    with tempfile.TemporaryDirectory(prefix="ils-sandbox-") as tmp:
        script = Path(tmp) / "main.py"
        netns = can_unshare()
        script.write_text(code if netns else PRELUDE + code, encoding="utf-8")
        cmd = [sys.executable, "-I", "-B", str(script)]
        if netns:
            cmd = [shutil.which("unshare") or "unshare", "-rn", *cmd]
        env = {"PATH": "/usr/bin:/bin", "HOME": tmp, "TMPDIR": tmp, "PYTHONHASHSEED": "0"}
        try:
            p = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout,
                               preexec_fn=lambda: _limits(int(timeout) + 1, memory_mb))
        except subprocess.TimeoutExpired:
            return RunResult(False, "timeout")
    if p.returncode == 0:
        return RunResult(True, "passed", p.stdout[-2000:], p.stderr[-2000:])
    last = (p.stderr.strip().splitlines() or [""])[-1][:200]
    return RunResult(False, f"exit code {p.returncode}: {last}", p.stdout[-2000:], p.stderr[-2000:])


def network_isolation() -> str:
    return "network namespace (unshare -rn)" if can_unshare() else "socket disabled in-process"
