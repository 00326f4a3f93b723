"""The ``hf`` engine: this repo's scheduler on a local model (a name, a folder, a .gguf or a run folder)."""

from __future__ import annotations

from typing import Any

from ils.infer.engines import ENGINES
from ils.infer.protocol import Engine

OPTIONS = ("batch_size", "kv_tokens", "prefix_tokens", "step_tokens", "dtype", "merge")


@ENGINES.register("hf")
def hf_engine(model: str, target: str = "", **options: Any) -> Engine:
    from ils.infer.engine import LocalEngine

    return LocalEngine.load(model, **{k: v for k, v in options.items() if k in OPTIONS and v is not None})
