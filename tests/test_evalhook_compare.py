"""A run's before/after comparison carries unparseable counts and likelihood scores when present."""

from __future__ import annotations

from ils.io import RunDir, write_json
from ils.train.evalhook import compare, plot_before_after


def test_before_after_rows_include_unparseable_and_likelihood(tmp_path):
    run = RunDir(tmp_path / "run")
    task = lambda s, u, ll: {
        "metric": "classification",
        "score": s,
        "n": 4,
        "unparseable": u,
        "likelihood": {"score": ll},
    }
    write_json(
        run.eval / "before" / "report.json",
        {"tasks": {"sst": task(0.25, 3, 0.5)}, "overall": {"score": 0.25}},
    )
    write_json(
        run.eval / "after" / "report.json",
        {"tasks": {"sst": task(0.75, 0, 0.75)}, "overall": {"score": 0.75}},
    )
    rows = compare(run)
    assert rows["sst"] == {
        "metric": "classification",
        "before": 0.25,
        "after": 0.75,
        "before_unparseable": 3,
        "after_unparseable": 0,
        "before_likelihood": 0.5,
        "after_likelihood": 0.75,
    }
    assert rows["overall"]["after"] == 0.75
    assert plot_before_after(run).is_file()
