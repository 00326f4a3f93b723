"""Check a train config against the registries before anything is created.

A wrong method or head name, options the chosen method or head does not read, baselines an encoder
cannot run, a model that does not resolve or data that is not there: each is found here, before the
run folder exists, so the corrected rerun is not refused with "already exists". What needs the
data or the model itself (the records' task, label sets, lengths) is checked while loading, which
also happens before the run folder is created (``ils.train.loop.train``).
"""

from __future__ import annotations

from pathlib import Path

from ils.config import TrainConfig
from ils.errors import ConfigError


def check_config(cfg: TrainConfig) -> None:
    from ils.models.sources import resolve
    from ils.train.methods import get_method

    get_method(cfg.method).check_config(cfg)  # an unknown name lists the known ones
    _check_head(cfg)
    _check_objective(cfg)
    resolve(cfg.model)
    _check_paths(cfg)


def _check_paths(cfg: TrainConfig) -> None:
    """Each data path names a file, or a dataset folder with the split it is read for."""
    paths = [("data", cfg.data, "train"), ("validation", cfg.validation, "validation")]
    if cfg.eval and cfg.eval.test:
        paths.append(("eval.test", cfg.eval.test, cfg.eval.split))
    for option, path, split in paths:
        if path:
            check_path(option, path, split)


def check_path(option: str, path: str, split: str) -> None:
    """``path`` names a file, or a dataset folder with ``split``."""
    from ils.dataset import split_path

    if not Path(path).exists():
        raise ConfigError(f"{option}: {path}: not found")
    if split_path(path, split) is None:
        raise ConfigError(f"{option}: {path}: no {split}.jsonl in this dataset folder")


def _check_objective(cfg: TrainConfig) -> None:
    """The objective, the continual options and the attack's options, against what each needs."""
    from ils.train import continual
    from ils.train.objectives import get_objective

    get_objective(cfg.objective).check_config(cfg)
    if cfg.preference.sft_weight and cfg.objective != "dpo":
        raise ConfigError(f"preference.sft_weight: adds an SFT term to DPO's pairs; objective {cfg.objective} "
                          "has none (use objective dpo; for sft it is the whole loss)")
    o = cfg.adversarial
    changed = [k for k, f in type(o).model_fields.items() if k != "attack" and getattr(o, k) != f.default]
    if o.attack is None and changed:
        raise ConfigError(f"adversarial.{changed[0]}: set adversarial.attack (fgm or pgd) to use it")
    if o.attack == "fgm" and {"steps", "step_size"} & set(changed):
        raise ConfigError("adversarial.steps: fgm takes one step; steps and step_size are pgd's")
    continual.check_config(cfg)


def _check_head(cfg: TrainConfig) -> None:
    set_options = cfg.head.changed()
    if cfg.head.kind is None:
        if set_options:
            from ils.models.heads import HEADS

            raise ConfigError(f"head.{set_options[0]}: only an encoder head reads it; set head.kind "
                              f"({', '.join(HEADS.names())} or auto) to train one")
        return
    if cfg.eval and cfg.eval.modes:
        raise ConfigError(f"eval.modes: {cfg.eval.modes} are prompt baselines of a causal LM; an encoder "
                          "head has none (remove eval.modes)")
    if cfg.head.kind != "auto":
        from ils.models.heads import check_options

        check_options(cfg.head.kind, cfg.head)
