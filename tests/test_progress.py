"""Progress when output is a pipe or a file: plain lines, at least every 30 s of (injected) time, for
training, a train config's eval block and the build; no sleeping, the clock is driven by hand."""

from __future__ import annotations

import io
import re

from cli_helpers import ils
from ils import progress
from ils.progress import Ticker


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_ticker_prints_when_due_with_eta():
    clock, out = Clock(), io.StringIO()
    t = Ticker("train", 10, every=10, stream=out, clock=clock, unit="step")
    for step in range(1, 11):
        clock.t += 4
        t.update(step, f"loss {1 / step:.3f}")
    t.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "train: step 3/10 · loss 0.333 · 12s · ETA 28s"
    assert lines[-1].startswith("train: step 10/10 · loss 0.100 · 40s") and "ETA" not in lines[-1]
    assert len(lines) == 4  # at 12 s, 24 s, 36 s and the last


def test_heartbeat_prints_while_one_step_takes_minutes():
    """No update for 95 s (one slow step): the heartbeat still prints every 10 s."""
    clock, out, polls = Clock(), io.StringIO(), [0]

    def wait(poll: float) -> bool:  # the heartbeat's wait: advance time instead of sleeping
        polls[0] += 1
        clock.t += poll
        return polls[0] > 95

    t = Ticker("train", 100, every=10, stream=out, clock=clock, unit="step")
    t.heartbeat(wait=wait)
    t._thread.join()
    times = [_elapsed(line) for line in out.getvalue().splitlines()]
    assert times == list(range(10, 100, 10)) and out.getvalue().splitlines()[5].endswith(" · 1m00s")


def _elapsed(line: str) -> int:
    m = re.search(r" · (?:(\d+)m)?(\d+)s(?: · |$)", line)
    return int(m.group(1) or 0) * 60 + int(m.group(2))


def test_piped_ils_train_prints_a_line_at_least_every_30_s(tiny_llama, toy_data, tmp_path, monkeypatch):
    """Each step takes 7 s of injected time; output is not a terminal (as in `ils train > log`)."""
    from ils.train import loop

    clock = Clock()
    monkeypatch.setattr(progress, "now", clock)
    real_step = loop._one_step

    def slow_step(*args, **kw):
        clock.t += 7
        return real_step(*args, **kw)

    monkeypatch.setattr(loop, "_one_step", slow_step)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"model: {tiny_llama}\ndata: {toy_data}\noutput: {tmp_path / 'run'}\nbf16: false\n"
                   f"max_steps: 20\neval_every: 10\nlora: {{r: 4}}\neval: {{test: {toy_data}, max_new_tokens: 2}}\n")
    status, text = ils("train", cfg)
    assert status == 0, text
    lines = [x for x in text.splitlines() if x.startswith("train: step")]
    times = [_elapsed(x) for x in lines]
    assert lines[0].startswith("train: step 0/20") and lines[-1].startswith("train: step 20/20")
    assert max(b - a for a, b in zip(times, times[1:])) <= 30 and times[-1] == 140
    assert all(re.search(r"loss \d\.\d{3} · \d+ tok/s", x) for x in lines[1:])
    assert any("ETA" in x for x in lines) and any("val " in x for x in lines)
    assert re.search(r"eval 0-zero-shot: zero-shot .*, 8 test records →", text)  # the eval block says so
    assert re.search(r"eval 1-run: done in .*: toy_add exact_match", text)


def test_a_piped_build_says_what_it_reads(tmp_path, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress, "now", clock)
    from ils.data import progress as data_progress

    out = io.StringIO()
    monkeypatch.setattr("sys.stderr", out)
    items = []
    for i in data_progress.track(range(50), "reading sst2"):
        clock.t += 1
        items.append(i)
    assert len(items) == 50
    assert out.getvalue().splitlines()[0] == "reading sst2: records 10/50 · 10s · ETA 40s"
