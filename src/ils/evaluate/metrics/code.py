"""Code pass@k: each candidate program runs against the task's tests in the sandbox.

A prediction is one candidate program or a list of n candidates (samples); a reference is the test
code (asserts) as a string, or ``{"tests": str, "setup": str}``. pass@k uses the unbiased estimator
of Chen et al. 2021 (the Codex paper): 1 - C(n-c, k) / C(n, k), averaged over problems, for every
k in ``KS`` not above n. Unparseable (``None``) candidates fail without running. A candidate passes only
if the tests run to their end (``ils.sandbox``: an early ``sys.exit(0)`` fails).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ils.evaluate.metrics import METRICS, headline
from ils.sandbox import Limits, run_code

KS = (1, 5, 10, 100)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn from n (c correct) passes; stable product form."""
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def program(candidate: str, reference: Any) -> tuple[str, str]:
    """The candidate (after the reference's setup) and the tests, run as two compile units."""
    if isinstance(reference, dict):
        return "\n".join([reference.get("setup", ""), candidate]), str(reference["tests"])
    return candidate, str(reference)


def count_passing(candidates: Any, reference: Any, limits: Limits | None = None) -> tuple[int, int]:
    cands = [candidates] if isinstance(candidates, str) or candidates is None else list(candidates)
    passed = 0
    for c in cands:
        if c is not None:
            code, tests = program(c, reference)
            passed += run_code(code, limits, tests=tests).passed
    return len(cands), passed


@METRICS.register("pass_at_k")
def code_pass_at_k(
    predictions: Sequence[Any], references: Sequence[Any], limits: Limits | None = None
) -> dict:
    """pass@k (the Codex paper's unbiased estimator): the share of problems where a candidate runs the
    reference tests to their end in the sandbox; unparseable candidates fail without running."""
    counts = [count_passing(p, r, limits) for p, r in zip(predictions, references, strict=True)]
    n_min = min((n for n, _ in counts), default=1)
    out = {
        f"pass@{k}": float(np.mean([pass_at_k(n, c, k) for n, c in counts])) if counts else 0.0
        for k in KS
        if k <= n_min
    }
    return headline("pass_at_k", out["pass@1"], **out, samples=n_min)
