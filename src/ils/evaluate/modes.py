"""Zero-shot, few-shot and tuned evaluation on the same test set, side by side in one output folder.

A mode spec is ``zero-shot`` (or ``base``), ``few-shot:K`` (``few-shot:K:similar`` to choose
exemplars by similarity), or a run folder / model name (``tuned``: that model, zero-shot prompts).
Prompt-learning modes use the base model ``model``; exemplars come from ``train``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ils.errors import EvalError
from ils.evaluate.fewshot import FewShot
from ils.evaluate.runner import evaluate, gold_of, task_of
from ils.infer.engine import Engine, Sampling
from ils.io import fingerprint
from ils.records import Example


@dataclass
class Mode:
    name: str  # label in reports: zero-shot, few-shot:4, or the run folder
    kind: str  # zero-shot | few-shot | tuned
    model: str
    k: int = 0
    select: str = "random"


def parse_mode(spec: str, model: str = "default") -> Mode:
    spec = spec.strip()
    if spec in ("zero-shot", "base", "zero"):
        return Mode("zero-shot", "zero-shot", model)
    if spec.startswith("few-shot"):
        parts = spec.split(":")
        try:
            k = int(parts[1]) if len(parts) > 1 else 4
        except ValueError:
            raise EvalError(f"mode {spec!r}: k must be an integer, as in few-shot:4") from None
        if k < 1:
            raise EvalError(f"mode {spec!r}: k must be at least 1, as in few-shot:4")
        select = parts[2] if len(parts) > 2 else "random"
        return Mode(
            f"few-shot:{k}" + (f":{select}" if select != "random" else ""), "few-shot", model, k, select
        )
    return Mode(spec, "tuned", _check_model_ref(spec))


def _check_model_ref(ref: str) -> str:
    path = Path(ref)
    if path.is_dir() and not (path / "ils.json").is_file() and not (path / "config.json").is_file():
        raise EvalError(f"{ref}: neither a run folder (no ils.json) nor a model folder (no config.json)")
    if (path / "ils.json").is_file() and not any((path / d).is_dir() for d in ("adapter", "model")):
        raise EvalError(f"{ref}: run folder has no adapter/ or model/ (did training finish?)")
    return ref


def check_label_spaces(test: Sequence[Example], train: Sequence[Example] | None) -> None:
    """Gold answers of closed-set tasks must be options of the task, and test labels seen in train."""
    for split, records in (("test", test), ("train", train or [])):
        for ex in records:
            task = task_of(ex)
            if task.answer_choices() and gold_of(ex, task) not in task.option_answers():
                raise EvalError(
                    f"{ex.source or ex.id or split}: answer: {gold_of(ex, task)!r} is not one of "
                    f"task {task.name!r}'s labels {task.option_answers()} ({split} split)"
                )
    if train:
        _same_labels(test, train)


def _labels(records: Sequence[Example]) -> dict[str, set]:
    out: dict[str, set] = {}
    for ex in records:
        task = task_of(ex)
        if task.answer_choices():
            out.setdefault(task.name, set()).add(str(gold_of(ex, task)))
    return out


def _same_labels(test: Sequence[Example], train: Sequence[Example]) -> None:
    seen = _labels(train)
    for name, labels in _labels(test).items():
        missing = labels - seen.get(name, set())
        if missing:
            raise EvalError(
                f"label spaces differ for task {name!r}: test has {sorted(missing)} that the train "
                f"split never has (train: {sorted(seen.get(name, set()))})"
            )


def _check_run_labels(ref: str, test: Sequence[Example]) -> None:
    """A tuned run must have seen the test's labels: compare with the train split its config names."""
    import yaml

    config = Path(ref) / "config.yaml"
    data = yaml.safe_load(config.read_text()).get("data") if config.is_file() else None
    if not data or not Path(data).exists():
        return
    try:
        _same_labels(test, read_split(data, "train"))
    except EvalError as e:
        raise EvalError(f"{ref}: {e}") from None


class Engines:
    """Load each model once, whichever modes share it."""

    def __init__(self, batch_size: int):
        self.batch_size, self.cache = batch_size, {}

    def get(self, ref: str) -> Engine:
        if ref not in self.cache:
            self.cache[ref] = Engine.load(ref, self.batch_size)
        return self.cache[ref]


def model_fingerprint(ref: str) -> str:
    """sha256 of a run's adapter/ or model/, or of a base model's weight files."""
    from ils.models.sources import resolve

    path = Path(ref)
    if (path / "ils.json").is_file():
        part = path / "adapter" if (path / "adapter").is_dir() else path / "model"
        return fingerprint(part)
    folder = resolve(ref)
    weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    return fingerprint(weights[0]) if len(weights) == 1 else fingerprint(folder)


def run_mode(
    mode: Mode,
    test: list[Example],
    train: list[Example] | None,
    engines: Engines,
    out_dir: Path,
    sampling: Sampling,
    seed: int = 0,
    progress: bool = True,
    strict: bool = True,
) -> dict:
    shots = None
    if mode.kind == "few-shot":
        if not train:
            raise EvalError(f"mode {mode.name}: few-shot needs a train split (--train, or a dataset folder)")
        shots = FewShot(train, mode.k, mode.select, seed).exemplars(test)
    report = evaluate(
        engines.get(mode.model), test, out_dir, sampling, mode.name, progress, shots=shots, strict=strict
    )
    return report


def evaluate_modes(
    test: list[Example],
    specs: Sequence[str],
    out: str | Path,
    model: str = "default",
    train: list[Example] | None = None,
    sampling: Sampling | None = None,
    batch_size: int = 16,
    seed: int = 0,
    progress: bool = True,
    strict: bool = True,
    sources: dict | None = None,
) -> dict:
    """Evaluate every mode on ``test``; write one folder per mode and the combined report, charts, html."""
    from ils.evaluate.report import write_combined

    out, sampling = Path(out), sampling or Sampling()
    modes = [parse_mode(s, model) for s in specs]
    needs_train = train if any(m.kind == "few-shot" for m in modes) else None
    check_label_spaces(test, needs_train)
    for m in modes:
        if m.kind == "few-shot" and train is not None and m.k > len(train):
            raise EvalError(f"mode {m.name}: k={m.k} is larger than the train split ({len(train)} records)")
        if m.kind == "tuned":
            _check_run_labels(m.model, test)
    engines = Engines(batch_size)
    reports = {}
    for i, m in enumerate(modes):
        rep = run_mode(m, test, train, engines, out / _folder(i, m), sampling, seed, progress, strict)
        reports[m.name] = {**rep, "mode": asdict(m), "fingerprints": _fingerprints(m, sources or {})}
    config = {
        "modes": list(specs),
        "model": model,
        "seed": seed,
        "sampling": asdict(sampling),
        "n_test": len(test),
        "n_train": len(train or []),
        "test_records_sha256": records_hash(test),
    }
    return write_combined(out, reports, config)


def records_hash(records: Sequence[Example]) -> str:
    """sha256 of the records actually scored (after --limit), independent of the file they came from."""
    import hashlib

    h = hashlib.sha256()
    for ex in records:
        h.update(ex.model_dump_json().encode())
    return h.hexdigest()


def _folder(i: int, m: Mode) -> str:
    name = Path(m.name).name if m.kind == "tuned" else m.name.replace(":", "-")
    return f"{i}-{name}"


def _fingerprints(m: Mode, sources: dict[str, Any]) -> dict:
    fp = {k: fingerprint(v) for k, v in sources.items() if v is not None and Path(v).exists()}
    return {**fp, "model": model_fingerprint(m.model)}


def read_split(path: str | Path, split: str, limit: int | None = None) -> list[Example]:
    """A file, or a dataset folder's ``<split>.jsonl``; the first ``limit`` records."""
    from ils.records import load_examples

    path = Path(path)
    file = path / f"{split}.jsonl" if path.is_dir() else path
    if not file.is_file():
        raise EvalError(f"{path}: no {split} split here (expected {file})")
    records = load_examples(file)
    return records[:limit] if limit else records
