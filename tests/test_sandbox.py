"""The sandbox passes good code, fails early exits, and stops memory and time runaways; without a
namespace tool it refuses to run code unless unsafe execution is allowed."""

from __future__ import annotations

import json

import pytest
from cli_helpers import ils

from ils import sandbox
from ils.sandbox import Limits, SandboxError, run_code

needs_bwrap = pytest.mark.skipif(sandbox.namespace_problem() is not None,
                                 reason=f"no namespace sandbox: {sandbox.namespace_problem()}")


@needs_bwrap
def test_good_code_passes_and_a_failing_assert_fails():
    assert run_code("assert sum(range(4)) == 6").status == "passed"
    out = run_code("assert 1 == 2, 'nope'")
    assert out.status == "failed" and "AssertionError" in out.stderr


@needs_bwrap
def test_code_and_tests_share_one_namespace_but_compile_apart():
    assert run_code("def double(x):\n    return 2 * x", tests="assert double(3) == 6").passed
    # an unclosed string at the end of the candidate cannot swallow the tests
    assert not run_code('def f():\n    return 1\nx = """', tests="assert f() == 2").passed
    assert not run_code("def f():\n    return 1", tests="assert f() == 2").passed


@needs_bwrap
@pytest.mark.parametrize("code, tests", [
    ("import sys\nsys.exit(0)", "assert False"),
    ("import os\nos._exit(0)", "assert False"),
    ("raise SystemExit(0)", "assert False"),
    ("import os\ndef f():\n    os._exit(0)", "assert f() == 1"),
    ("import sys\ndef f():\n    sys.exit(0)", "assert f() == 1"),
    ("import atexit, os\natexit.register(os._exit, 0)\nraise SystemExit(0)", "assert False"),
])
def test_an_early_exit_is_a_failure(code, tests):
    out = run_code(code, tests=tests)
    assert out.status == "failed" and not out.passed, out
    assert "no completion sentinel" in out.stderr


@needs_bwrap
def test_runaway_memory_is_stopped():
    out = run_code("x = bytearray(2 * 1024 ** 3)", Limits(memory_mb=256))
    assert out.status == "memory"


@needs_bwrap
def test_infinite_loop_is_stopped():
    out = run_code("while True:\n    pass", Limits(timeout=3, cpu_seconds=1))
    assert out.status == "timeout"


@needs_bwrap
def test_runs_in_its_own_folder_with_an_empty_environment():
    code = ("import os\nassert os.getcwd() == '/sandbox', os.getcwd()\n"
            "assert sorted(os.listdir('.')) == ['candidate.py', 'launch.py'], os.listdir('.')\n"
            "assert 'HOME' not in os.environ and 'PATH' not in os.environ, dict(os.environ)\n"
            "open('scratch.txt', 'w').write('the temp folder is writable')")
    out = run_code(code)
    assert out.passed, out.stderr


@needs_bwrap
def test_the_temp_folder_is_size_capped():
    out = run_code("for i in range(8):\n    open(f'f{i}', 'wb').write(b'x' * (1 << 20))", Limits(disk_mb=4))
    assert not out.passed and "No space left" in out.stderr


def test_without_a_namespace_tool_code_is_not_run_unless_allowed(monkeypatch):
    monkeypatch.setattr(sandbox, "namespace_problem", lambda: "bubblewrap (bwrap) is not installed")
    with pytest.raises(SandboxError, match="--unsafe-exec"):
        run_code("assert True")
    with sandbox.allow_unsafe():
        assert sandbox.mode() == "unsafe"
        assert run_code("assert sum(range(4)) == 6").passed
        assert not run_code("import sys\nsys.exit(0)", tests="assert False").passed
        out = run_code("import socket\nsocket.socket()")
        assert not out.passed and "network access is disabled" in out.stderr
    with pytest.raises(SandboxError):
        sandbox.mode()


def test_a_broken_bwrap_is_reported_not_used(monkeypatch):
    sandbox.namespace_problem.cache_clear()
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    try:
        assert sandbox.namespace_problem() == "bubblewrap (bwrap) is not installed"
    finally:
        sandbox.namespace_problem.cache_clear()


def _code_tests(tmp_path):
    rec = {"messages": [{"role": "user", "content": "Write double(x)."},
                        {"role": "assistant", "content": "```python\ndef double(x):\n    return 2 * x\n```"}],
           "task": "code", "answer": {"solution": "def double(x):\n    return 2 * x",
                                      "tests": "assert double(2) == 4"}}
    path = tmp_path / "code.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    return path


def test_eval_of_code_tasks_refuses_before_loading_a_model_without_a_sandbox(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox, "namespace_problem", lambda: "bubblewrap (bwrap) is not installed")
    status, text = ils("eval", _code_tests(tmp_path), "-m", tmp_path / "no-such-model", "-o", tmp_path / "e")
    assert status == 2 and "--unsafe-exec" in text and "no-such-model" not in text
    assert not (tmp_path / "e").exists()


def test_self_instruct_code_refuses_without_a_sandbox(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox, "namespace_problem", lambda: "bubblewrap (bwrap) is not installed")
    status, text = ils("generate", "self-instruct", "--seeds", _code_tests(tmp_path), "--code",
                       "-m", tmp_path / "no-such-model", "-o", tmp_path / "si")
    assert status == 2 and "bubblewrap" in text and "--unsafe-exec" in text


@needs_bwrap
def test_eval_runs_code_tasks_through_pass_at_k(tmp_path, tiny_llama):
    status, text = ils("eval", _code_tests(tmp_path), "-m", tiny_llama, "-o", tmp_path / "e",
                       "--max-new-tokens", "4", "--batch-size", "1")
    assert status == 0, text
    report = json.loads((tmp_path / "e" / "report.json").read_text())
    scores = json.dumps(report)
    assert "pass@1" in scores, scores
