"""Label-space checks before any model runs: gold answers of closed-set tasks must be options of the
task, and a test label the train split (few-shot pool, or a tuned run's data) never has is refused."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ils.errors import EvalError
from ils.evaluate.judge import gold_of, task_of
from ils.records import Example


def check_label_spaces(test: Sequence[Example], train: Sequence[Example] | None) -> None:
    for split, records in (("test", test), ("train", train or [])):
        for ex in records:
            task = task_of(ex)
            if task.answer_choices() and gold_of(ex, task) not in task.option_answers():
                raise EvalError(f"{ex.source or ex.id or split}: answer: {gold_of(ex, task)!r} is not one of "
                                f"task {task.name!r}'s labels {task.option_answers()} ({split} split)")
    if train:
        same_labels(test, train)


def _labels(records: Sequence[Example]) -> dict[str, set]:
    out: dict[str, set] = {}
    for ex in records:
        task = task_of(ex)
        if task.answer_choices():
            out.setdefault(task.name, set()).add(str(gold_of(ex, task)))
    return out


def same_labels(test: Sequence[Example], train: Sequence[Example]) -> None:
    seen = _labels(train)
    for name, labels in _labels(test).items():
        missing = labels - seen.get(name, set())
        if missing:
            raise EvalError(f"label spaces differ for task {name!r}: test has {sorted(missing)} that the "
                            f"train split never has (train: {sorted(seen.get(name, set()))})")


def check_run_labels(ref: str, test: Sequence[Example]) -> None:
    """A tuned run must have seen the test's labels: compare with the train split its config names."""
    import yaml

    from ils.dataset import read_split

    config = Path(ref) / "config.yaml"
    data = yaml.safe_load(config.read_text()).get("data") if config.is_file() else None
    if not data or not Path(data).exists():
        return
    try:
        same_labels(test, read_split(data, "train"))
    except EvalError as e:
        raise EvalError(f"{ref}: {e}") from None
