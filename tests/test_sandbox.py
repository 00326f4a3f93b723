"""The sandbox passes good code and stops network use, runaway memory and infinite loops."""

from __future__ import annotations

from ils.sandbox import Limits, run_code


def test_good_code_passes_and_a_failing_assert_fails():
    assert run_code("assert sum(range(4)) == 6").status == "passed"
    out = run_code("assert 1 == 2, 'nope'")
    assert out.status == "failed" and "AssertionError" in out.stderr


def test_network_is_blocked():
    code = "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_STREAM)"
    out = run_code(code)
    assert not out.passed and "network access is disabled" in out.stderr
    out = run_code("import _socket\n_socket.socket()")
    assert not out.passed
    assert not run_code("import urllib.request\nurllib.request.urlopen('http://127.0.0.1:9')").passed
    assert not run_code("import ctypes").passed


def test_runaway_memory_is_stopped():
    out = run_code("x = bytearray(2 * 1024 ** 3)", Limits(memory_mb=256))
    assert out.status == "memory"


def test_infinite_loop_is_stopped():
    out = run_code("while True:\n    pass", Limits(timeout=3, cpu_seconds=1))
    assert out.status == "timeout"


def test_runs_in_an_empty_temp_dir_with_an_empty_environment():
    code = (
        "import os\nassert sorted(os.listdir('.')) == ['candidate.py', 'launch.py'], os.listdir('.')\n"
        "assert 'HOME' not in os.environ and 'PATH' not in os.environ, dict(os.environ)"
    )
    assert run_code(code).passed, run_code(code).stderr
