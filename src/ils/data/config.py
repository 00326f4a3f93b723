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
    task: str = Field(..., description="the data task that reads the file (docs/tasks.md: its fields and options)")
    path: str = Field(..., description="the raw data file (relative to this config)")
    name: str | None = Field(None, description="names the source in record ids and the manifest (default: "
                             "TASK-FILESTEM)")
    options: dict[str, Any] = Field({}, description="the task's reader options: column names, label_map, "
                                    "labels, ... (docs/tasks.md lists each task's)")
    weight: float = Field(1.0, ge=0, description="train-split multiplier (<1 samples, >1 repeats)")
    limit: int | None = Field(None, ge=1, description="stop reading after this many records (with "
                              "--skip-invalid: this many valid ones)")
    split: Split | None = Field(None, description="put every record of this source in one split (train, "
                                "validation or test), e.g. an official test file")
    templates: list[str] | None = Field(None, description="use only these templates of the task")
    inverted: bool = Field(False, description="also use inverted templates (the output becomes the input)")


class EvalSetConfig(_Model):
    path: str = Field(..., description="an evaluation file whose inputs training records must not share")
    task: str | None = Field(None, description="read it with this task's reader; unset: an instruction file")
    options: dict[str, Any] = Field({}, description="that task's reader options")


class SplitConfig(_Model):
    train: float = Field(0.8, ge=0, description="share of records in train")
    validation: float = Field(0.1, ge=0, description="share of records in validation")
    test: float = Field(0.1, ge=0, description="share of records in test")

    @model_validator(mode="after")
    def _sums_to_one(self) -> "SplitConfig":
        if abs(self.train + self.validation + self.test - 1) > 1e-6:
            raise ValueError("train + validation + test must be 1")
        return self


class DedupConfig(_Model):
    exact: bool = Field(True, description="drop records whose input and output repeat an earlier one")
    near: bool = Field(True, description="drop near-duplicate inputs (MinHash candidates, ROUGE-L check)")
    rouge_l: float = Field(0.7, gt=0, le=1, description="ROUGE-L at or above which two inputs are near-duplicates")
    long_chars: int = Field(400, ge=10, description="inputs longer than this use the long-text MinHash threshold")
    short_threshold: float = Field(0.3, gt=0, lt=1, description="MinHash Jaccard threshold for short inputs")
    long_threshold: float = Field(0.2, gt=0, lt=1, description="MinHash Jaccard threshold for long inputs")
    num_perm: int = Field(64, ge=16, description="MinHash permutations")


class DecontamConfig(_Model):
    ngram: int = Field(8, ge=1, description="a word n-gram of this length shared with an evaluation input "
                       "drops the record")


class BuildConfig(_Model):
    sources: list[SourceConfig] = Field(min_length=1, description="the raw data files, one entry each")
    eval_sets: list[EvalSetConfig] = Field([], description="evaluation sets to decontaminate against")
    splits: SplitConfig = Field(SplitConfig(), description="split fractions (sources with split: are kept whole)")
    seed: int = Field(0, description="seed of template choice, splits and sampling")
    heldout_templates: dict[str, list[str]] = Field({}, description="task → templates used only in the test "
                                                    "split (unseen phrasings)")
    dedup: DedupConfig = Field(DedupConfig(), description="duplicate removal")
    decontaminate: DecontamConfig = Field(DecontamConfig(), description="overlap with eval_sets")
    task_dirs: list[str] = Field([], description="folders of user task files (YAML or Python)")
    max_chars: int | None = Field(None, ge=1, description="drop records whose instruction is longer")


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
