"""Continual learning: keep what earlier tasks taught while learning a new one.

Four ways, each an option of ``ils train`` and ``ils loop`` (``continual:`` in the config), all in the
one training loop: data (replay mixes earlier records into the new set: ``ils loop``'s replay, or a
mixed dataset folder), regularisers added to the same backward (``ewc``: a penalty for moving the
weights the previous task's data depended on; ``lwf``: a KL term keeping the outputs on the new data
close to the previous model's), and architecture (``adapters``: a fresh LoRA per task on the same base,
the runs listed in ``adapters.json`` and each prompt routed to one at inference).

``continual.previous`` names the previous task's run: training continues from its weights (same method,
options and base model) unless ``adapters`` starts a fresh adapter. Everything is checked here before
the run folder is created; what EWC and LwF compute from the models is stored in the run's
``continual/`` folder as safetensors and read back on resume.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from ils.errors import ConfigError


def previous_run(cfg: Any) -> tuple[dict, dict] | None:
    """(ils.json, config.yaml) of ``continual.previous``; refused unless it is a finished run."""
    ref = cfg.continual.previous
    if not ref:
        return None
    root = Path(ref)
    if not (root / "ils.json").is_file() or not (root / "config.yaml").is_file():
        raise ConfigError(f"continual.previous: {ref}: not a run folder (no ils.json/config.yaml)")
    info = json.loads((root / "ils.json").read_text())
    if info.get("status") != "done" or not any((root / d).is_dir() for d in ("adapter", "model")):
        raise ConfigError(f"continual.previous: {ref}: the run has not finished (status {info.get('status')!r})")
    return info, yaml.safe_load((root / "config.yaml").read_text())


def check_config(cfg: Any) -> None:
    """Every continual option against what it needs, before anything is created."""
    c = cfg.continual
    prev = previous_run(cfg)
    if c.ewc and not (prev or c.ewc_data):
        raise ConfigError("continual.ewc: EWC needs the previous task: set continual.previous (its run folder) "
                          "or continual.ewc_data (its data); without one there is no Fisher to weigh the weights by")
    if c.ewc_data and not Path(c.ewc_data).exists():
        raise ConfigError(f"continual.ewc_data: {c.ewc_data}: not found")
    if c.lwf and cfg.objective != "sft":
        raise ConfigError(f"continual.lwf: distils the previous model's next-token outputs on the training "
                          f"answers; objective {cfg.objective} has none (use objective sft)")
    if c.lwf and cfg.head.kind is not None:
        raise ConfigError("continual.lwf: an encoder head's outputs on a new task are not the previous task's "
                          "labels; LwF applies to causal LMs (use ewc for an encoder head)")
    if c.lwf and not (prev or c.teacher):
        raise ConfigError("continual.lwf: LwF needs the previous model: set continual.previous or continual.teacher")
    if c.teacher:
        _check_teacher(cfg)
    if prev:
        _check_previous(cfg, *prev)


def _check_previous(cfg: Any, info: dict, old: dict) -> None:
    from ils.train.continual.weights import same_base

    same_base(cfg, info)
    if cfg.continual.adapters:
        if cfg.method != "lora" or not (Path(cfg.continual.previous) / "adapter" / "adapter_config.json").is_file():
            raise ConfigError("continual.adapters: one LoRA adapter per task (the engine runs LoRA adapters side by "
                              f"side); method is {cfg.method!r} and continual.previous must be a LoRA run")
        return
    for key in ("method", "lora", "method_options"):
        now = getattr(cfg, key)
        now = now.model_dump(mode="json") if hasattr(now, "model_dump") else now
        if old.get(key) != now:
            _differs(key, now, old.get(key))
    kind = (old.get("head") or {}).get("kind")
    if cfg.head.kind not in (kind, "auto") or (cfg.head.kind == "auto" and kind is None):
        _differs("head.kind", cfg.head.kind, kind)


def _differs(key: str, now: Any, before: Any) -> None:
    raise ConfigError(f"{key}: {now!r} differs from continual.previous's {before!r}; training continues from its "
                      "weights, so they must match (or set continual.adapters for a fresh adapter)")


def _check_teacher(cfg: Any) -> None:
    """LwF compares next-token distributions: the teacher must share the student's vocabulary."""
    from ils.train.continual.weights import tokenizer_of

    student, teacher = tokenizer_of(cfg.continual.previous or cfg.model), tokenizer_of(cfg.continual.teacher)
    if student.get_vocab() != teacher.get_vocab():
        a, b = len(student.get_vocab()), len(teacher.get_vocab())
        raise ConfigError(f"continual.teacher: {cfg.continual.teacher}: its tokenizer differs from the student's "
                          f"({b} vs {a} tokens, or the same tokens numbered differently); LwF compares "
                          "next-token distributions, which needs one vocabulary")
