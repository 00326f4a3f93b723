"""Run model-written code (pass@k candidates, self-instruct solutions) inside Linux namespaces.

Why a boundary and not only limits: the code comes from a model, and pass@k or a self-instruct keep
rate is only as honest as the box it runs in. Each run goes through bubblewrap (``bwrap``), which
does the namespace work (hand-writing clone/unshare/mount code would only repeat it, less tested):

- new user, PID, network, IPC, UTS and cgroup namespaces: no network but a loopback of its own (a
  ``curl`` subprocess or a re-executed Python gets no more than the candidate does); the run sees
  only its own processes, and when it ends the kernel kills every process it started, ``setsid``
  or not;
- a read-only view of /usr and of the Python installation, and nothing else of the host: no $HOME,
  no host /tmp, no /etc beyond the loader cache;
- one writable folder, ``/sandbox`` (the working directory), a size-capped tmpfs that vanishes with
  the run;
- run as root, the launcher drops to a fresh uid of its own, because the kernel does not apply
  RLIMIT_NPROC to root; run as a user, a user namespace makes the limit count only the run's processes;
- rlimits set by the launcher before the code runs (address space, CPU seconds, file size, process
  count) and a wall-clock timeout that kills the whole process group.

A run passes only if it exits with status 0 **and** prints a random per-run sentinel that the
launcher writes after the last test, so ``sys.exit(0)`` or ``os._exit(0)`` before or inside the tests
fails. The sentinel is read from stdin before the code runs and is in no file the code can see. Code
written to dig it out of the launcher's frame could forge a pass: that is a cheat inside the box, not
a way out of it.

Without a working ``bwrap`` no code runs unless the caller allows it (``--unsafe-exec``,
:func:`allow_unsafe`); then only the rlimits and the Python-level guards of the launcher apply.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ils.errors import ILSError

WORKDIR = "/sandbox"

LAUNCHER = r"""
import os, resource, sys

def _limit(mem, cpu, fsize, nproc, uid):
    R = resource
    for kind, value in ((R.RLIMIT_AS, mem), (R.RLIMIT_CPU, cpu), (R.RLIMIT_FSIZE, fsize), (R.RLIMIT_CORE, 0),
                        (R.RLIMIT_NPROC, nproc)):
        R.setrlimit(kind, (value, value))
    if uid >= 0:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)

def _guards():
    def blocked(*a, **k):
        raise OSError("network access is disabled in the ILS sandbox")
    import socket, _socket
    for mod in (socket, _socket):
        for name in ("socket", "socketpair", "fromfd", "create_connection", "create_server", "getaddrinfo"):
            if hasattr(mod, name):
                setattr(mod, name, blocked)
    sys.modules["ctypes"] = None
    sys.modules["_ctypes"] = None

def _run():
    token = sys.stdin.readline().strip()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    _limit(*(int(x) for x in sys.argv[1:6]))
    _guards()
    sys.argv = ["candidate.py"]
    scope = {"__name__": "__main__", "__file__": "candidate.py", "__builtins__": __builtins__}
    for name in ("candidate.py", "tests.py"):
        if os.path.exists(name):
            with open(name, encoding="utf-8") as f:
                source = f.read()
            exec(compile(source, name, "exec"), scope)
    sys.stdout.flush()
    os.write(1, ("\n" + token + "\n").encode())

_run()
"""


class SandboxError(ILSError):
    """Code cannot be run safely here (no working namespace tool) and unsafe execution was not allowed."""


@dataclass
class Limits:
    timeout: float = 10.0
    cpu_seconds: int = 10
    memory_mb: int = 512
    file_mb: int = 16
    processes: int = 32
    disk_mb: int = 64


@dataclass
class Outcome:
    status: str  # passed | failed | timeout | memory | error
    returncode: int | None
    stderr: str

    @property
    def passed(self) -> bool:
        return self.status == "passed"


_policy = {"unsafe": False}


@contextlib.contextmanager
def allow_unsafe(allowed: bool = True) -> Iterator[None]:
    """Within the block, run code without namespaces when bwrap is missing (``--unsafe-exec``)."""
    before = _policy["unsafe"]
    _policy["unsafe"] = allowed or before
    try:
        yield
    finally:
        _policy["unsafe"] = before


def mode() -> str:
    """``bwrap`` when the namespace sandbox works here, ``unsafe`` if allowed; else SandboxError."""
    why = namespace_problem()
    if why is None:
        return "bwrap"
    if _policy["unsafe"]:
        return "unsafe"
    raise SandboxError(f"cannot run model-written code safely: {why}. Install bubblewrap (Debian/Ubuntu: "
                       "apt-get install bubblewrap), or pass --unsafe-exec to run it with rlimits only")


@functools.lru_cache(maxsize=None)
def namespace_problem() -> str | None:
    """None if a trivial program passes under bwrap with every flag a real run uses, else why not."""
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed"
    out = _execute("assert True", None, Limits(timeout=60), "bwrap")
    if out.passed:
        return None
    return f"bwrap fails here ({(out.stderr.strip().splitlines() or [out.status])[-1]})"


def run_code(code: str, limits: Limits | None = None, tests: str | None = None) -> Outcome:
    """Run ``code`` then ``tests`` (one namespace, two compile units); ``passed`` needs both to finish."""
    return _execute(code, tests, limits or Limits(), mode())


def _execute(code: str, tests: str | None, limits: Limits, how: str) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="ils-sandbox-") as tmp:
        work = Path(tmp)
        _write_program(work, code, tests)
        out, err = work / "stdout", work / "stderr"
        with out.open("w+b") as out_f, err.open("w+b") as err_f:
            run = (_start_bwrap(work, limits, out_f, err_f) if how == "bwrap"
                   else _start_unsafe(work, limits, out_f, err_f))
            token = secrets.token_hex(16)
            status = _wait(run, token, limits.timeout)
        if status is None:
            return Outcome("timeout", None, _tail(err))
        finished = token.encode() in out.read_bytes()
        return _outcome(status, _tail(err), finished, how == "bwrap")


def _write_program(work: Path, code: str, tests: str | None) -> None:
    (work / "launch.py").write_text(LAUNCHER, encoding="utf-8")
    (work / "candidate.py").write_text(code, encoding="utf-8")
    if tests is not None:
        (work / "tests.py").write_text(tests, encoding="utf-8")


def _limit_args(limits: Limits) -> list[str]:
    return [str(limits.memory_mb << 20), str(limits.cpu_seconds), str(limits.file_mb << 20),
            str(limits.processes)]


def _python() -> tuple[str, str]:
    """The base interpreter (not a venv's link to it) and its installation prefix."""
    exe = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    return exe, os.path.realpath(sys.base_prefix)


def _system_mounts(prefix: str) -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    args += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    if not prefix.startswith("/usr/"):
        for parent in reversed([p for p in Path(prefix).parents if str(p) != "/"]):
            args += ["--perms", "0755", "--dir", str(parent)]  # traversable, even when the host's is not
        args += ["--ro-bind", prefix, prefix]
    return args


def _namespace_flags() -> tuple[list[str], str]:
    """bwrap's namespace flags and the uid the launcher drops to ("-1": stay).

    As root, bwrap runs privileged without a user namespace (a user namespace would map the run to
    uid 0, which RLIMIT_NPROC ignores): every capability but setuid/setgid is dropped and the launcher
    switches to a fresh uid of its own. Otherwise a user namespace does it, and no nested one is allowed.
    """
    common = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
              "--die-with-parent", "--new-session"]
    if os.geteuid() == 0:
        uid = str((1 << 30) + secrets.randbelow(1 << 20))
        return common + ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"], uid
    nested = ["--disable-userns"] if "--disable-userns" in _bwrap_help() else []  # bwrap >= 0.8
    return common + ["--unshare-user", *nested, "--cap-drop", "ALL"], "-1"


@functools.lru_cache(maxsize=None)
def _bwrap_help() -> str:
    return subprocess.run(["bwrap", "--help"], capture_output=True, text=True, check=False).stdout


@dataclass
class _Started:
    proc: subprocess.Popen
    fds: list[int]  # descriptors handed to bwrap, closed once the run is over
    init: int | None = None  # pidfd of the namespace's init: it has exited once every process of the run has


def _start_bwrap(work: Path, limits: Limits, stdout, stderr) -> _Started:
    exe, prefix = _python()
    flags, uid = _namespace_flags()
    info_r, info_w = os.pipe()
    args = ["bwrap", *flags, "--info-fd", str(info_w), *_system_mounts(prefix), "--proc", "/proc",
            "--dev", "/dev", "--perms", "01777", "--size", str(limits.disk_mb << 20), "--tmpfs", WORKDIR]
    fds = [info_w]
    for f in sorted(work.glob("*.py")):
        fds.append(os.open(f, os.O_RDONLY))
        args += ["--perms", "0644", "--file", str(fds[-1]), f"{WORKDIR}/{f.name}"]
    args += ["--chdir", WORKDIR, "--", exe, "-I", "-S", "launch.py", *_limit_args(limits), uid]
    try:
        proc = subprocess.Popen(args, env={}, stdin=subprocess.PIPE, stdout=stdout, stderr=stderr,
                                pass_fds=fds, start_new_session=True)
    except BaseException:
        _close([info_r, *fds])
        raise
    _close([info_w])
    return _Started(proc, fds[1:], _init_pidfd(info_r))


def _init_pidfd(info_r: int) -> int | None:
    """bwrap writes its init's pid to --info-fd before the program starts (EOF if it failed first)."""
    with os.fdopen(info_r, "rb") as f:
        raw = f.read()
    try:
        return os.pidfd_open(json.loads(raw)["child-pid"])
    except (ValueError, KeyError, ProcessLookupError):
        return None


def _start_unsafe(work: Path, limits: Limits, stdout, stderr) -> _Started:
    args = [_python()[0], "-I", "-S", "launch.py", *_limit_args(limits), "-1"]
    proc = subprocess.Popen(args, cwd=work, env={}, stdin=subprocess.PIPE, stdout=stdout, stderr=stderr,
                            start_new_session=True)
    return _Started(proc, [])


def _wait(run: _Started, token: str, timeout: float) -> int | None:
    """Hand the sentinel over and wait; the exit status, or None after a timeout.

    Either way the process group is killed before its leader is reaped (so the group id cannot have
    been reused), and under bwrap the call returns only once the namespace's init has exited, i.e.
    once the kernel has killed every process of the run, ``setsid`` orphans included.
    """
    try:
        with contextlib.suppress(BrokenPipeError):
            run.proc.stdin.write(f"{token}\n".encode())
            run.proc.stdin.close()
        done = _exited(run.proc.pid, timeout)
    finally:
        _close(run.fds)
        _kill(run)
    return run.proc.returncode if done else None


def _exited(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` s for ``pid`` to exit, without reaping it."""
    pidfd = os.pidfd_open(pid)
    try:
        return bool(select.select([pidfd], [], [], timeout)[0])
    finally:
        os.close(pidfd)


def _kill(run: _Started) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(run.proc.pid, signal.SIGKILL)
    if run.init is not None:
        select.select([run.init], [], [], 60)  # bwrap's --die-with-parent takes the init down with it
        os.close(run.init)
    run.proc.wait()


def _close(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _tail(path: Path) -> str:
    with path.open("rb") as f:
        f.seek(max(0, path.stat().st_size - 2000))
        return f.read().decode("utf-8", "replace")


def _signal_of(code: int, namespaced: bool) -> int | None:
    """The signal that ended the run: negative status from Popen, 128+N from bwrap's init."""
    if code < 0:
        return -code
    return code - 128 if namespaced and 128 < code < 128 + 65 else None


def _outcome(code: int, stderr: str, finished: bool, namespaced: bool) -> Outcome:
    if code == 0 and finished:
        return Outcome("passed", 0, stderr)
    sig = _signal_of(code, namespaced)
    if sig in (signal.SIGXCPU, signal.SIGKILL):
        return Outcome("timeout", code, stderr)
    if "MemoryError" in stderr or sig == signal.SIGSEGV:
        return Outcome("memory", code, stderr)
    if code == 0:
        return Outcome("failed", 0, stderr + "\nexited before the end of the tests (no completion sentinel)")
    return Outcome("failed" if "Error" in stderr else "error", code, stderr)
