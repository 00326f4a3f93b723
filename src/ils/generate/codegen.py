"""Code tasks for self-instruct: the model writes an instruction, a solution and tests; a task is
kept only if its solution passes its own tests in the sandbox (``ils.sandbox.run_code``, shared with pass@k evaluation).

Tests that do not assert anything prove nothing, so a task needs at least one ``assert`` statement
(found by parsing the tests: the word in a comment or a string does not count).
"""

from __future__ import annotations

import ast
import random
import re
from dataclasses import dataclass

from ils.sandbox import Limits, run_code

SEED_CODE = [
    ("Write a Python function `is_palindrome(s)` that returns True if the string reads the same "
     "backwards, ignoring case.",
     "def is_palindrome(s):\n    s = s.lower()\n    return s == s[::-1]",
     "assert is_palindrome('Level')\nassert not is_palindrome('abc')"),
    ("Write a Python function `running_sum(xs)` that returns the list of running totals of a list "
     "of numbers.",
     "def running_sum(xs):\n    out, total = [], 0\n    for x in xs:\n        total += x\n        out.append(total)\n"
     "    return out",
     "assert running_sum([1, 2, 3]) == [1, 3, 6]\nassert running_sum([]) == []"),
    ("Write a Python function `count_vowels(text)` that counts the vowels in a string.",
     "def count_vowels(text):\n    return sum(c in 'aeiouAEIOU' for c in text)",
     "assert count_vowels('hello') == 2\nassert count_vowels('xyz') == 0"),
]


@dataclass(frozen=True)
class CodeTask:
    instruction: str
    solution: str
    tests: str


def _block(inst: str, sol: str, tests: str) -> str:
    return f"### Task\n{inst}\n### Solution\n```python\n{sol}\n```\n### Tests\n```python\n{tests}\n```"


def code_prompt(rng: random.Random, machine: list[CodeTask]) -> str:
    mine = rng.sample(machine, min(1, len(machine)))
    shots = rng.sample(SEED_CODE, 2) + [(t.instruction, t.solution, t.tests) for t in mine]
    head = ("Write a new, different Python programming task, its solution and assert-based tests, "
            "in the same format as these.\n\n")
    return head + "\n\n".join(_block(*s) for s in shots) + "\n\n### Task\n"


_PARSE = re.compile(r"^(.*?)\n### Solution\s*\n```(?:python)?\n(.*?)```\s*\n"
                    r"### Tests\s*\n```(?:python)?\n(.*?)(?:```|\Z)",
                    re.S)


def parse_code(completion: str) -> CodeTask | str:
    """The task, or the reason it cannot be read."""
    m = _PARSE.match(completion.strip())
    if m is None:
        return "code task not in the Task/Solution/Tests format"
    inst, sol, tests = (g.strip() for g in m.groups())
    if not inst or not sol:
        return "code task without instruction or solution"
    if not has_asserts(tests):
        return "code task without assert tests"
    return CodeTask(" ".join(inst.split()), sol, tests)


def has_asserts(tests: str) -> bool:
    """True if ``tests`` parses as Python and holds at least one ``assert`` statement."""
    try:
        tree = ast.parse(tests)
    except (SyntaxError, ValueError):
        return False
    return any(isinstance(node, ast.Assert) for node in ast.walk(tree))


def check(task: CodeTask, timeout: float = 10.0) -> str | None:
    """None if the solution passes its tests, else why not."""
    res = run_code(task.solution, Limits(timeout=timeout, cpu_seconds=int(timeout) + 1), tests=task.tests)
    last = (res.stderr.strip().splitlines() or [""])[-1][:200]
    return None if res.passed else f"tests fail: {res.status}" + (f": {last}" if last else "")
