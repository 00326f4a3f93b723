"""The ``ils data build`` config: sources (task, path, options, weight, limit), evaluation sets to
decontaminate against, split fractions, held-out templates, dedup thresholds, seed.

Relative paths are relative to the config file, so a config works from any working directory.
Errors name the config line: ``data.yaml:7: sources.0.task: unknown task 'x'; known: ...``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ils.errors import ConfigError
from ils.io import read_text, read_yaml, yaml_where

Split = Literal["train", "validation", "test"]
SPLITS: tuple[Split, ...] = ("train", "validation", "test")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceConfig(_Model):
    task: str
    path: str
    name: str | None = None  # names the source in ids and the manifest (default: file stem)
    options: dict[str, Any] = {}  # task reader options: columns, label_map, labels, languages…
    weight: float = Field(1.0, ge=0)  # train-split multiplier (<1 samples, >1 repeats)
    limit: int | None = Field(None, ge=1)  # read at most this many valid raw records
    split: Split | None = None  # put every record of this source in one split
    templates: list[str] | None = None  # restrict to these templates
    inverted: bool = False  # also use inverted templates (the output is the input text)


class EvalSetConfig(_Model):
    path: str
    task: str | None = None  # read with this task's reader; None: an Example file
    options: dict[str, Any] = {}


class SplitConfig(_Model):
    train: float = Field(0.8, ge=0)
    validation: float = Field(0.1, ge=0)
    test: float = Field(0.1, ge=0)

    @model_validator(mode="after")
    def _sums_to_one(self) -> "SplitConfig":
        if abs(self.train + self.validation + self.test - 1) > 1e-6:
            raise ValueError("train + validation + test must be 1")
        return self


class DedupConfig(_Model):
    exact: bool = True
    near: bool = True
    rouge_l: float = Field(0.7, gt=0, le=1)
    long_chars: int = Field(400, ge=10)
    short_threshold: float = Field(0.3, gt=0, lt=1)
    long_threshold: float = Field(0.2, gt=0, lt=1)
    num_perm: int = Field(64, ge=16)


class DecontamConfig(_Model):
    ngram: int = Field(8, ge=1)  # a shared word n-gram with an evaluation input drops the record


class BuildConfig(_Model):
    sources: list[SourceConfig] = Field(min_length=1)
    eval_sets: list[EvalSetConfig] = []
    splits: SplitConfig = SplitConfig()
    seed: int = 0
    heldout_templates: dict[str, list[str]] = {}  # task → templates used only in the test split
    dedup: DedupConfig = DedupConfig()
    decontaminate: DecontamConfig = DecontamConfig()
    task_dirs: list[str] = []
    max_chars: int | None = Field(None, ge=1)  # drop records whose instruction is longer


def load_config(config: str | Path | BuildConfig | dict) -> tuple[BuildConfig, Path | None]:
    """Parse and check a build config; returns it with relative paths made absolute."""
    if isinstance(config, BuildConfig):
        return config, None
    path = None if isinstance(config, dict) else Path(config)
    raw = config if isinstance(config, dict) else read_yaml(path)
    text = read_text(path) if path else ""
    try:
        cfg = BuildConfig.model_validate(raw or {})
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{yaml_where(path, text, err['loc'])}: {loc}: "
                          f"{err['msg'].removeprefix('Value error, ')}") from None
    return (_absolute(cfg, path.parent) if path else cfg), path


def _absolute(cfg: BuildConfig, base: Path) -> BuildConfig:
    fix = lambda p: str(p if Path(p).is_absolute() else (base / p))  # noqa: E731
    return cfg.model_copy(update={
        "sources": [s.model_copy(update={"path": fix(s.path)}) for s in cfg.sources],
        "eval_sets": [e.model_copy(update={"path": fix(e.path)}) for e in cfg.eval_sets],
        "task_dirs": [fix(d) for d in cfg.task_dirs]})


def config_line(path: Path | None, text: str, loc: tuple) -> str:
    return yaml_where(path, text, loc)
