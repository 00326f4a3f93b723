import random

import pytest

from fakes import WORDS, seed_file
from ils.generate import SelfInstructConfig, run
from ils.generate.backends import EngineBackend
from ils.generate.codegen import CodeTask, check, has_asserts, parse_code
from ils.generate.pool import InstructionPool, all_pairs_filter
from ils.sandbox import Limits, run_code


def _texts(n, seed=0):
    rng = random.Random(seed)
    base = [" ".join(rng.sample(WORDS, 8)) for _ in range(n)]
    out = []
    for t in base:
        out.append(t)
        w = t.split()
        w[rng.randrange(len(w))] = "zebra"  # one word of eight edited: ROUGE-L 0.875
        out.append(" ".join(w))
    return out


def test_pool_matches_all_pairs_filter():
    texts = _texts(150)
    pool = InstructionPool(0.7)
    decisions = [pool.offer(t) is None for t in texts]
    assert decisions == all_pairs_filter(texts, 0.7)
    assert sum(decisions) < len(texts) and len(pool) == sum(decisions)


def test_pool_query_reports_best_match():
    pool = InstructionPool()
    pool.add("Sort the following list of numbers in ascending order.")
    hit = pool.query("Sort the following list of numbers in descending order.")
    assert hit.index == 0 and 0.7 <= hit.score < 1
    assert pool.query("Translate this sentence into German.") is None


def test_sandbox_limits():
    assert run_code("assert sum([1, 2]) == 3").passed
    assert "AssertionError" in run_code("assert 1 == 2").stderr
    assert run_code("while True: pass", Limits(timeout=1, cpu_seconds=1)).status == "timeout"
    assert not run_code("x = bytearray(4_000_000_000)", Limits(memory_mb=256)).passed
    net = run_code("import socket; socket.create_connection(('127.0.0.1', 9), timeout=2)")
    assert not net.passed and "network access is disabled" in net.stderr


def test_code_parse_and_check():
    good = ("Write a function `double(x)` that doubles a number.\n### Solution\n```python\ndef double(x):\n"
            "    return 2 * x\n```\n### Tests\n```python\nassert double(2) == 4\n```")
    task = parse_code(good)
    assert isinstance(task, CodeTask) and check(task) is None
    assert check(CodeTask("t", "def double(x):\n    return x", "assert double(2) == 4")).startswith("tests fail")
    assert parse_code("no format") == "code task not in the Task/Solution/Tests format"
    assert parse_code(good.replace("assert double(2) == 4", "print(1)")) == "code task without assert tests"


@pytest.mark.parametrize("tests", ["print(1)  # assert double(2) == 4", "'assert double(2) == 4'",
                                   "x = 'no assert here'", "assert (", "def assert_ok():\n    pass"])
def test_tests_need_a_real_assert_statement(tests):
    assert not has_asserts(tests)


def test_a_solution_that_exits_early_is_not_kept():
    assert check(CodeTask("t", "import sys\nsys.exit(0)", "assert double(2) == 4")).startswith("tests fail")
    assert has_asserts("def test():\n    assert double(2) == 4\ntest()")


class CodeScript:
    name, exhausted = "code-script", False

    def __init__(self):
        self.i = 0

    def generate(self, prompts, params):
        outs = []
        for _ in prompts:
            self.i += 1
            ok = "2 * x" if self.i % 2 else "x + 1"  # every other solution fails its test
            name = "_".join(random.Random(self.i).sample(WORDS, 4))
            outs.append(f"Write a function `{name}(x)` that doubles a number for {name.replace('_', ' ')}.\n"
                        f"### Solution\n```python\ndef {name}(x):\n    return {ok}\n```\n### Tests\n```python\n"
                        f"assert {name}(2) == 4\n```")
        return outs


def test_code_tasks_kept_only_when_tests_pass(tmp_path):
    man = run(seed_file(tmp_path), tmp_path / "ds", SelfInstructConfig(n=2, prompts_per_round=2, code=True),
              CodeScript())
    assert man["kept_tasks"] == 2 and man["by_kind"] == {"code": 2} and man["dropped"]["tests fail"] == 2


def test_loop_runs_on_a_tiny_model(tiny_llama_1k, tmp_path):
    man = run(seed_file(tmp_path), tmp_path / "ds",
              SelfInstructConfig(n=1, prompts_per_round=2, max_rounds=1, instruction_tokens=12, instance_tokens=12,
                                 evolve=0.5), EngineBackend.load(str(tiny_llama_1k)))
    assert len(man["rounds"]) == 1 and (tmp_path / "ds" / "report.md").is_file()
    assert man["candidates"] > 0  # the tiny model's text parses into candidate instructions...
    # ...and each one is either kept or dropped with its reason, in the manifest and the round summary
    assert man["kept_tasks"] + sum(man["dropped"].values()) == man["candidates"]
    assert man["rounds"][0]["dropped"] == man["dropped"] and man["rounds"][0]["kept"] == man["kept_tasks"]


def test_cli_generate_without_subcommand_still_answers_prompts(tiny_llama):
    from typer.testing import CliRunner

    from ils.cli import app

    res = CliRunner().invoke(app, ["generate", "-m", str(tiny_llama), "-p", "Add 2 and 3.", "--max-new-tokens", "4"])
    assert res.exit_code == 0, res.output
    assert '"prompt": "Add 2 and 3."' in res.output
