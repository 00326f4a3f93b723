"""Zero-shot, few-shot and tuned evaluation on the same test set, side by side in one output folder.

A mode spec is ``zero-shot`` (or ``base``), ``few-shot:K`` (``few-shot:K:similar`` to choose
exemplars by similarity), or a run folder / model name (``tuned``: that model, zero-shot prompts; an
encoder-head run predicts with its head). Prompt-learning modes use the base model ``model``;
exemplars come from ``train``. The flow, top-down: parse the specs, check the label spaces, score
each mode into ``<out>/<i>-<mode>/`` (``score_mode``), and combine the mode reports into
``report.json``, charts and ``report.html`` (``combine``). A run's ``eval/`` is this same folder,
written by the same two functions (``ils.train.evalhook``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ils.errors import EvalError
from ils.evaluate.encoder import evaluate_encoder, is_encoder_run
from ils.evaluate.fewshot import FewShot
from ils.evaluate.labels import check_label_spaces, check_run_labels
from ils.evaluate.runner import evaluate
from ils.infer.protocol import Engine, Sampling
from ils.io import fingerprint
from ils.progress import duration, say
from ils.records import Example


@dataclass
class Mode:
    name: str  # label in reports: zero-shot, few-shot:4, or the run folder
    kind: str  # zero-shot | few-shot | tuned
    model: str
    k: int = 0
    select: str = "random"

    @property
    def folder(self) -> str:
        return Path(self.name).name if self.kind == "tuned" else self.name.replace(":", "-")


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
        name = f"few-shot:{k}" + (f":{select}" if select != "random" else "")
        return Mode(name, "few-shot", model, k, select)
    return Mode(spec, "tuned", _check_model_ref(spec))


def _check_model_ref(ref: str) -> str:
    path = Path(ref)
    if path.is_dir() and not (path / "ils.json").is_file() and not (path / "config.json").is_file():
        raise EvalError(f"{ref}: neither a run folder (no ils.json) nor a model folder (no config.json)")
    if (path / "ils.json").is_file() and not any((path / d).is_dir() for d in ("adapter", "model")):
        raise EvalError(f"{ref}: run folder has no adapter/ or model/ (did training finish?)")
    return ref


def check_modes(modes: Sequence[Mode], test: Sequence[Example], train: Sequence[Example] | None) -> None:
    """Everything that would stop a mode, checked before the first model loads."""
    check_label_spaces(test, train if any(m.kind == "few-shot" for m in modes) else None)
    for m in modes:
        if m.kind == "few-shot" and not train:
            raise EvalError(f"mode {m.name}: few-shot needs a train split (--train, or a dataset folder)")
        if m.kind == "few-shot" and m.k > len(train or []):
            raise EvalError(f"mode {m.name}: k={m.k} is larger than the train split ({len(train)} records)")
        if m.kind == "tuned":
            check_run_labels(m.model, test)


class Engines:
    """Load each model once, whichever modes share it (through the engine registry)."""

    def __init__(self, batch_size: int, engine: str = "hf", dtype: str = "auto"):
        self.batch_size, self.engine, self.dtype, self.cache = batch_size, engine, dtype, {}

    def get(self, ref: str) -> Engine:
        from ils.evaluate.routed import RoutedEngine, is_routed_run
        from ils.infer.engines import load_engine

        if ref not in self.cache:  # a run with one adapter per task routes each prompt to one of them
            self.cache[ref] = (RoutedEngine.load(ref, self.batch_size) if is_routed_run(ref) else
                               load_engine(ref, self.engine, batch_size=self.batch_size, dtype=self.dtype))
        return self.cache[ref]


def score_mode(i: int, mode: Mode, test: list[Example], train: list[Example] | None, engines: Engines,
               out: Path, sampling: Sampling, seed: int = 0, progress: bool = True, strict: bool = True,
               sources: dict | None = None) -> dict:
    """Score one mode into ``out/<i>-<mode>/`` (report.json, predictions.jsonl); with ``progress`` a line
    says what starts and what it scored (a log shows what a train config's eval: block is doing)."""
    dest = out / f"{i}-{mode.folder}"
    info = {"mode": asdict(mode), "fingerprints": _fingerprints(mode, sources or {})}
    if progress:
        say(f"eval {dest.name}: {mode.kind} {mode.model}, {len(test)} test records → {dest}")
    if mode.kind == "tuned" and is_encoder_run(mode.model):
        result = evaluate_encoder(mode.model, test, dest, mode.name, strict, info=info, progress=progress)
    else:
        few = mode.kind == "few-shot"
        shots = FewShot(train or [], mode.k, mode.select, seed).exemplars(test) if few else None
        result = evaluate(engines.get(mode.model), test, dest, sampling, mode.name, progress, shots=shots,
                          strict=strict, info=info)
    if progress:
        say(f"eval {dest.name}: done in {duration(result['seconds'])}: {scores_line(result)}")
    return result


def scores_line(report: dict) -> str:
    """``nli accuracy 0.412 (12 unparseable), ...`` of a mode report."""
    return ", ".join(f"{task} {r['metric']} {r['score']:.3f}" + (f" ({r['unparseable']} unparseable)"
                                                                  if r.get("unparseable") else "")
                     for task, r in report["tasks"].items())


def combine(out: Path, modes: Sequence[Mode], config: dict) -> dict:
    """The combined report of the modes scored under ``out``: report.json, charts, report.html."""
    from ils.evaluate.report import write_combined

    reports = {m.name: json.loads((out / f"{i}-{m.folder}" / "report.json").read_text())
               for i, m in enumerate(modes)}
    return write_combined(out, reports, config)


def evaluate_modes(test: list[Example], specs: Sequence[str], out: str | Path, model: str = "default",
                   train: list[Example] | None = None, sampling: Sampling | None = None, batch_size: int = 16,
                   seed: int = 0, progress: bool = True, strict: bool = True,
                   sources: dict | None = None, engine: str = "hf", dtype: str = "auto") -> dict:
    """Evaluate every mode on ``test``; write one folder per mode and the combined report, charts, html.
    ``engine`` runs the generative modes (hf, llamacpp, openai:URL[,URL...]); encoder runs stay local."""
    out, sampling = Path(out), sampling or Sampling()
    modes = [parse_mode(s, model) for s in specs]
    check_modes(modes, test, train)
    engines = Engines(batch_size, engine, dtype)
    for i, m in enumerate(modes):
        score_mode(i, m, test, train, engines, out, sampling, seed, progress, strict, sources)
    return combine(out, modes, suite_config(specs, model, seed, sampling, test, train))


def suite_config(specs: Sequence[str], model: str, seed: int, sampling: Sampling, test: Sequence[Example],
                 train: Sequence[Example] | None) -> dict:
    return {"modes": list(specs), "model": model, "seed": seed, "sampling": asdict(sampling),
            "n_test": len(test), "n_train": len(train or []), "test_records_sha256": records_hash(test)}


def records_hash(records: Sequence[Example]) -> str:
    """sha256 of the records actually scored (after --limit), independent of the file they came from."""
    h = hashlib.sha256()
    for ex in records:
        h.update(ex.model_dump_json().encode())
    return h.hexdigest()


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


def _fingerprints(m: Mode, sources: dict[str, Any]) -> dict:
    fp = {k: fingerprint(v) for k, v in sources.items() if v is not None and Path(v).exists()}
    return {**fp, "model": model_fingerprint(m.model)}
