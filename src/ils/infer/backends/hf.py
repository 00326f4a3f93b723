"""The ``hf`` engine: this repo's engine on a local model (a name, a folder, a .gguf or a run folder)."""

from __future__ import annotations

from typing import Any

from ils.infer.engines import ENGINES
from ils.infer.protocol import Engine


@ENGINES.register("hf")
def hf_engine(model: str, target: str = "", **options: Any) -> Engine:
    from ils.infer.engine import Engine as HFEngine

    return HFEngine.load(model, options.get("batch_size", 16), options.get("dtype", "float32"))
