"""The models a server holds: one base model (a name or a run folder) plus named LoRA adapters.

All of them live in one PEFT model behind one engine, so adapters share the base weights and
requests for different adapters share every batch (the engine routes each row to its adapter).
A run folder's own adapter is renamed ``__run__`` so user adapter names cannot clash with it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from ils.errors import ILSError
from ils.infer.engine import LocalEngine
from ils.models.chat import render_prompt
from ils.models.loading import is_run_folder, load_base, load_run

RUN_ADAPTER = "__run__"


class ModelPool:
    def __init__(self, base_id: str, ref: str, engine: LocalEngine, adapters: dict[str, str]):
        self.base_id, self.ref, self.adapters, self.engine = base_id, ref, adapters, engine
        model = engine.model
        self.encoder = copy.deepcopy(engine.tok)  # request handlers encode; the engine thread decodes
        self.base_adapter = RUN_ADAPTER if RUN_ADAPTER in getattr(model, "peft_config", {}) else None
        self.context = engine.context

    def ids(self) -> list[str]:
        return [self.base_id, *self.adapters]

    def adapter_of(self, model_id: str) -> str | None:
        """The adapter a model id names (None for the base); KeyError if unknown."""
        if model_id == self.base_id:
            return None
        if model_id in self.adapters:
            return model_id
        raise KeyError(model_id)

    def route(self, adapter: str | None) -> str | None:
        """What the engine runs for it: the base of a served run folder is that run's own adapter."""
        return adapter or self.base_adapter

    def encode(self, kind: str, item: Any) -> list[int]:
        text = render_prompt(self.encoder, item) if kind == "chat" else item
        return self.encoder(text, add_special_tokens=False).input_ids


def load_pool(ref: str, adapters: dict[str, str] | None = None, base_id: str | None = None,
              **engine_options: Any) -> ModelPool:
    """Load ``ref`` (model name or run folder), attach each NAME=RUN_DIR adapter, start an engine."""
    import torch

    from ils.cpu import default_dtype

    adapters = dict(adapters or {})
    dtype = getattr(torch, default_dtype(engine_options.pop("dtype", "auto")))
    if is_run_folder(ref):
        model, tok, _ = load_run(Path(ref), dtype)
        if hasattr(model, "peft_config"):
            model = _rename_adapter(model, Path(ref) / "adapter")
    else:
        model, tok, _ = load_base(ref, dtype)
    for name, run in adapters.items():
        model = _attach(model, name, Path(run))
    engine = LocalEngine(model.eval(), tok, **engine_options)
    return ModelPool(base_id or _model_id(ref), ref, engine, adapters)


def _rename_adapter(model: Any, folder: Path) -> Any:
    model.load_adapter(str(folder), adapter_name=RUN_ADAPTER)
    model.set_adapter(RUN_ADAPTER)
    model.delete_adapter("default")
    return model


def _attach(model: Any, name: str, run: Path) -> Any:
    folder = run / "adapter"
    if not (folder / "adapter_config.json").is_file():
        raise ILSError(f"--adapter {name}={run}: no adapter/adapter_config.json (is it a LoRA run folder?)")
    try:
        if hasattr(model, "load_adapter") and hasattr(model, "peft_config"):
            model.load_adapter(str(folder), adapter_name=name)
            return model
        from peft import PeftModel

        return PeftModel.from_pretrained(model, str(folder), adapter_name=name)
    except (RuntimeError, ValueError) as e:
        raise ILSError(f"--adapter {name}={run}: does not fit the base model: {e}") from None


def _model_id(ref: str) -> str:
    if is_run_folder(ref):
        info = json.loads((Path(ref) / "ils.json").read_text())
        return info.get("name") or Path(ref).name
    return Path(ref).name if "/" in ref else ref
