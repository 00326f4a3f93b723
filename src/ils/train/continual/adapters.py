"""One adapter per task: the run trains a fresh LoRA on the base and lists every adapter of the chain.

``adapters.json`` in the run folder names each adapter (the earlier runs' and this one), its run
folder, its tasks and the texts the router learns it from: the registered templates of its tasks and a
sample of its training instructions. Inference loads them all on one base (``ils.evaluate.routed``) and
routes each prompt with the existing router (``ils.infer.route.TemplateRouter``), so requests for
different adapters still share every batch.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

from ils.records import Example

FILE = "adapters.json"
TEXTS = 100  # training instructions kept per adapter for the router


def adapter_map(run: Path) -> dict[str, dict]:
    """The adapters a run routes between: its adapters.json, or the run alone when it has none."""
    f = run / FILE
    if f.is_file():
        return json.loads(f.read_text())["adapters"]
    info = json.loads((run / "ils.json").read_text())
    return {_name(run, {}): {"run": str(run.resolve()), "tasks": info.get("tasks", []), "texts": []}}


def chain(cfg: Any, run: Path, records: list[Example]) -> dict:
    """adapters.json of a new run: the previous run's adapters plus this run's own."""
    earlier = adapter_map(Path(cfg.continual.previous)) if cfg.continual.previous else {}
    tasks = sorted({ex.task for ex in records if ex.task})
    own = {"run": str(run.resolve()), "tasks": tasks, "texts": _texts(tasks, records, cfg.seed)}
    return {"adapters": {**earlier, _name(run, earlier): own}}


def _name(run: Path, taken: dict) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", run.resolve().name) or "adapter"
    name, i = base, 1
    while name in taken:
        i += 1
        name = f"{base}-{i}"
    return name


def _texts(tasks: list[str], records: list[Example], seed: int) -> list[str]:
    from ils.infer.route import registry_templates

    templates = registry_templates()
    shown = [t for task in tasks for t in templates.get(task, [])]
    sample = random.Random(seed).sample(records, min(TEXTS, len(records)))
    return shown + [ex.instruction for ex in sample]
