"""Run untrusted candidate code in a subprocess with limits, for code metrics (pass@k).

Each run gets: a fresh temp working dir (deleted after), an empty environment, ``python -I -S``
(no user site, no site-packages, no PYTHON* variables), RLIMIT_AS (memory), RLIMIT_CPU and
RLIMIT_FSIZE, a wall-clock timeout that kills the whole process group, and a launcher that makes
every socket constructor and ``ctypes`` raise before the candidate runs. This stops honest mistakes
(infinite loops, runaway memory, stray network calls) in model output; it is not a security
boundary against code written to escape it — use a container for that.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

LAUNCHER = r"""
import resource, sys
_mem, _cpu, _fsize = (int(x) for x in sys.argv[1:4])
resource.setrlimit(resource.RLIMIT_AS, (_mem, _mem))
resource.setrlimit(resource.RLIMIT_CPU, (_cpu, _cpu))
resource.setrlimit(resource.RLIMIT_FSIZE, (_fsize, _fsize))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
sys.argv = ["candidate.py"]
def _blocked(*a, **k):
    raise OSError("network access is disabled in the ILS sandbox")
import socket, _socket
for _m in (socket, _socket):
    for _n in ("socket", "socketpair", "fromfd", "create_connection", "create_server", "getaddrinfo"):
        if hasattr(_m, _n):
            setattr(_m, _n, _blocked)
sys.modules["ctypes"] = None
sys.modules["_ctypes"] = None
del _m, _n, _mem, _cpu, _fsize
__file__ = "candidate.py"
_src = open("candidate.py", encoding="utf-8").read()
exec(compile(_src, "candidate.py", "exec"), {"__name__": "__main__", "__file__": "candidate.py"})
"""


@dataclass
class Limits:
    timeout: float = 10.0
    cpu_seconds: int = 10
    memory_mb: int = 512
    file_mb: int = 16


@dataclass
class Outcome:
    status: str  # passed | failed | timeout | memory | error
    returncode: int | None
    stderr: str

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def _limit_args(limits: Limits) -> list[str]:
    """The launcher sets its own rlimits before the candidate runs (no preexec_fn: unsafe with threads)."""
    return [str(limits.memory_mb << 20), str(limits.cpu_seconds), str(limits.file_mb << 20)]


def run_code(code: str, limits: Limits | None = None) -> Outcome:
    """Run ``code`` as a script; ``passed`` means exit status 0 within every limit."""
    limits = limits or Limits()
    with tempfile.TemporaryDirectory(prefix="ils-sandbox-") as cwd:
        Path(cwd, "candidate.py").write_text(code, encoding="utf-8")
        Path(cwd, "launch.py").write_text(LAUNCHER, encoding="utf-8")
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "launch.py", *_limit_args(limits)],
            cwd=cwd,
            env={},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            _, err = proc.communicate(timeout=limits.timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            return Outcome("timeout", None, "")
    return _outcome(proc.returncode, err.decode("utf-8", "replace")[-2000:])


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()


def _outcome(code: int, stderr: str) -> Outcome:
    if code == 0:
        return Outcome("passed", 0, stderr)
    if code in (-signal.SIGXCPU, -signal.SIGKILL):
        return Outcome("timeout", code, stderr)
    if "MemoryError" in stderr or code == -signal.SIGSEGV:
        return Outcome("memory", code, stderr)
    return Outcome("failed" if "Error" in stderr else "error", code, stderr)
