"""Generate procedural examples from a seed and write them as a dataset folder (``ils.dataset``).

Each task draws from its own ``random.Random`` seeded by (seed, task), so adding a task or changing
``n`` for one leaves the others' examples unchanged. Prompts are deduplicated before the split so no
prompt is in two splits.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Iterable, Sequence

from ils.dataset import SPLITS, write_dataset
from ils.errors import ConfigError
from ils.records import Example
from ils.tasks import TASKS
from ils.tasks.procedural.base import ProceduralTask, procedural_tasks


def resolve_tasks(tasks: Iterable[str] | None) -> list[ProceduralTask]:
    """Task names → procedural task instances; None means every procedural task."""
    known = sorted(procedural_tasks())
    names = known if tasks is None else list(dict.fromkeys(tasks))
    if not names:
        raise ConfigError(f"no tasks given; procedural tasks: {', '.join(known)}")
    found = [TASKS.get(name) for name in names]  # unknown names raise, listing the known ones
    for name, task in zip(names, found):
        if not isinstance(task, ProceduralTask):
            raise ConfigError(f"task '{name}' is not procedural; procedural: {', '.join(known)}")
    return found


def generate(tasks: list[str] | None = None, n: int = 100, seed: int = 0) -> list[Example]:
    """``n`` examples of each task, the same for the same seed (duplicates are kept here)."""
    if n < 1:
        raise ConfigError(f"n must be at least 1, got {n}")
    out: list[Example] = []
    for task in resolve_tasks(tasks):
        rng = random.Random(f"{seed}:{task.name}")
        source = f"procedural:{task.name}:seed={seed}"
        out += [task.sample(rng).model_copy(update={"id": f"{task.name}-s{seed}-{i:06d}", "source": source})
                for i in range(n)]
    return out


def dedup(examples: list[Example]) -> tuple[list[Example], list[dict]]:
    """Keep the first example of each prompt; report each dropped one with its reason."""
    seen: dict[str, str] = {}
    kept, dropped = [], []
    for ex in examples:
        key = ex.instruction
        if key in seen:
            dropped.append({"stage": "dedup", "kind": "duplicate prompt", "source": ex.source, "id": ex.id,
                            "task": ex.task, "reason": f"duplicate prompt of {seen[key]}"})
        else:
            seen[key] = ex.id
            kept.append(ex)
    return kept, dropped


def split(examples: list[Example], fractions: Sequence[float], seed: int) -> dict[str, list[Example]]:
    """A seeded shuffle per task, cut by ``fractions``; each split is then shuffled across tasks."""
    parts: dict[str, list[Example]] = {s: [] for s in SPLITS}
    by_task: dict[str, list[Example]] = {}
    for ex in examples:
        by_task.setdefault(ex.task, []).append(ex)
    for name, group in by_task.items():
        random.Random(f"{seed}:split:{name}").shuffle(group)
        n_train = round(fractions[0] * len(group))
        n_val = round(fractions[1] * len(group))
        parts["train"] += group[:n_train]
        parts["validation"] += group[n_train:n_train + n_val]
        parts["test"] += group[n_train + n_val:]
    for name, part in parts.items():
        random.Random(f"{seed}:order:{name}").shuffle(part)
    return parts


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ConfigError(f"splits must be three non-negative fractions summing to 1, got {tuple(fractions)}")
    return tuple(float(f) for f in fractions)  # type: ignore[return-value]


def build_dataset(out_dir: str | Path, tasks: list[str] | None = None, n: int = 100, seed: int = 0,
                  splits: Sequence[float] = (0.8, 0.1, 0.1)) -> Path:
    """Write train/validation/test JSONL ("messages" layout), manifest.json and report.md to ``out_dir``."""
    fractions = _check_fractions(splits)
    examples = generate(tasks, n, seed)
    kept, dropped = dedup(examples)
    info = {"n": n, "seed": seed, "tasks": sorted({ex.task for ex in examples}), "fractions": fractions,
            "generated": len(examples), "kept": len(kept)}
    write_dataset(out_dir, split(kept, fractions, seed), "procedural", drops=dropped, extra=info)
    return Path(out_dir)
