"""Probes written to get out of the sandbox or to fake a pass: each must be contained (no effect
outside the run) and scored as a failure. A probe "wins" (exits 0 after its tests) only if it escaped,
so a pass here is an escape and a side effect seen from outside is one too."""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from pathlib import Path

import pytest

from ils import sandbox
from ils.sandbox import Limits, run_code

pytestmark = pytest.mark.skipif(sandbox.namespace_problem() is not None,
                                reason=f"no namespace sandbox: {sandbox.namespace_problem()}")
SLEEP = shutil.which("sleep") or "/usr/bin/sleep"


@pytest.fixture
def listener():
    """A TCP server on the host's loopback; ``accepted()`` says whether anything connected."""
    srv = socket.create_server(("127.0.0.1", 0))
    srv.setblocking(False)

    def accepted() -> bool:
        try:
            srv.accept()[0].close()
        except BlockingIOError:
            return False
        return True

    yield srv.getsockname()[1], accepted
    srv.close()


def _processes_with(marker: str) -> list[int]:
    """Host processes whose environment holds ``marker`` (probes tag the children they leave)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker.encode() in (proc / "environ").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def test_curl_through_a_subprocess_has_no_network(listener):
    port, accepted = listener
    curl = shutil.which("curl")
    assert curl, "curl is needed for this probe (apt-get install curl)"
    code = (f"import subprocess\nr = subprocess.run([{curl!r}, '-s', '-m', '3', 'http://127.0.0.1:{port}/'])")
    out = run_code(code, tests="assert r.returncode == 0, r.returncode")
    assert not out.passed and not accepted()


def test_a_re_executed_python_has_no_network(listener):
    port, accepted = listener
    child = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3); print('in')"
    code = f"import os, sys\nos.execv(sys.executable, [sys.executable, '-c', {child!r}])"
    out = run_code(code, tests="assert False")
    assert not out.passed and not accepted()
    code = ("import subprocess, sys\n"
            f"r = subprocess.run([sys.executable, '-c', {child!r}])")
    out = run_code(code, tests="assert r.returncode == 0")
    assert not out.passed and not accepted()


def test_writes_outside_the_temp_folder_fail(tmp_path):
    targets = [Path.home() / f".ils-probe-{uuid.uuid4().hex}", tmp_path / "escaped", Path("/usr/ils-probe")]
    try:
        for target in targets:
            out = run_code(f"open({str(target)!r}, 'w').write('out')")
            assert not out.passed and not target.exists(), target
    finally:
        for target in targets:
            if target.is_file():
                target.unlink()


def test_secrets_in_home_and_ssh_are_not_readable(tmp_path):
    ssh = tmp_path / ".ssh"
    ssh.mkdir()
    (ssh / "id_ed25519").write_text("PRIVATE KEY")
    home_files = [p for p in Path.home().iterdir() if p.is_file()][:3]
    for secret in [ssh / "id_ed25519", *home_files]:
        out = run_code(f"data = open({str(secret)!r}, 'rb').read()", tests="assert data is not None")
        assert not out.passed, secret
    out = run_code(f"import os\nnames = os.listdir({str(Path.home())!r})",
                   tests=f"assert '.ssh' in names or {len(list(Path.home().iterdir()))} == len(names)")
    assert not out.passed


def test_a_fork_bomb_hits_the_process_limit_and_leaves_nothing():
    marker = f"ILS_PROBE={uuid.uuid4().hex}"
    code = ("import os\nn = 0\nfor _ in range(200):\n    try:\n        pid = os.fork()\n"
            "    except OSError:\n        break\n    if pid == 0:\n"
            f"        os.execve({SLEEP!r}, ['sleep', '600'], {{'TAG': {marker!r}}})\n    n += 1")
    out = run_code(code, Limits(processes=32), tests="assert n == 200, n")
    assert not out.passed and "assert n == 200" in out.stderr
    assert _processes_with(marker) == []


def test_a_spinning_fork_bomb_is_stopped():
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    out = run_code(code, Limits(timeout=2, cpu_seconds=1, processes=16))
    assert out.status == "timeout"


def test_a_setsid_orphan_does_not_outlive_the_run():
    marker = f"ILS_PROBE={uuid.uuid4().hex}"
    code = ("import os\nr, w = os.pipe()\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
            f"        os.execve({SLEEP!r}, ['sleep', '600'], {{'TAG': {marker!r}}})\n    os._exit(0)\n"
            "os.close(w)\nos.read(r, 1)  # returns once the orphan has exec'd (the pipe is close-on-exec)\n"
            "os.wait()")
    out = run_code(code, tests="assert True")
    assert out.passed, out.stderr  # the program itself is fine; what it left behind must be gone
    assert _processes_with(marker) == []


def test_a_re_imported_ctypes_is_contained(tmp_path):
    target = tmp_path / "by-ctypes"
    code = ("import sys\nfor m in ('ctypes', '_ctypes'):\n    sys.modules.pop(m, None)\nimport ctypes\n"
            f"libc = ctypes.CDLL(None)\nlibc.system(b'touch {target}')\nlibc._exit(0)")
    out = run_code(code, tests="assert False")
    assert not out.passed and not target.exists()


def test_a_guessed_or_printed_sentinel_is_no_pass():
    code = ("import sys\nsrc = open('launch.py').read() + open('candidate.py').read()\n"
            "print('passed'); print('0' * 32); sys.stdout.flush(); sys.exit(0)")
    assert not run_code(code, tests="assert False").passed


def test_the_run_cannot_see_or_signal_host_processes():
    code = f"import os\nos.kill({os.getpid()}, 9)"
    out = run_code(code, tests="assert True")
    assert not out.passed  # no such process in its PID namespace: ProcessLookupError
    pids = "import os\npids = [p for p in os.listdir('/proc') if p.isdigit()]"
    assert not run_code(pids, tests="assert len(pids) > 5, pids").passed
