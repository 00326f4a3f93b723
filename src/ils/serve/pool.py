"""The models a server holds: one base model (a name or a run folder) plus named LoRA adapters.

All of them live in one PEFT model behind one ``Engine``, so adapters share the base weights; a
batch runs with one adapter active (PEFT's mixed-adapter batches are not used: one group per
adapter is simpler and each group is still a full batch).
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ils.errors import ILSError
from ils.infer.engine import Engine, Sampling
from ils.models.chat import render_prompt
from ils.models.loading import is_run_folder, load_base, load_run

RUN_ADAPTER = "__run__"


class ModelPool:
    def __init__(self, base_id: str, ref: str, model: Any, tok: Any, adapters: dict[str, str],
                 batch_size: int = 16):
        self.base_id, self.ref, self.adapters = base_id, ref, adapters
        self.engine = Engine(model, tok, batch_size)
        self.counter = copy.deepcopy(tok)  # request threads count tokens; the worker owns ``tok``
        self.base_adapter = RUN_ADAPTER if RUN_ADAPTER in getattr(model, "peft_config", {}) else None
        cfg = getattr(model, "config", None)
        self.context = int(getattr(cfg, "max_position_embeddings", 0) or 2048)

    def ids(self) -> list[str]:
        return [self.base_id, *self.adapters]

    def adapter_of(self, model_id: str) -> str | None:
        """The adapter name for a model id (None for the base); KeyError if unknown."""
        if model_id == self.base_id:
            return None
        if model_id in self.adapters:
            return model_id
        raise KeyError(model_id)

    def count(self, kind: str, item: Any) -> int:
        text = render_prompt(self.counter, item) if kind == "chat" else item
        return len(self.counter(text, add_special_tokens=False).input_ids)

    def generate(self, adapter: str | None, kind: str, items: Sequence[Any], sampling: Sampling) -> list[str]:
        """Worker thread only: one adapter active for the whole batch."""
        with self._active(adapter):
            if kind == "chat":
                return self.engine.chat(items, sampling)
            return self.engine.complete(items, sampling)

    @contextlib.contextmanager
    def _active(self, adapter: str | None) -> Iterator[None]:
        model = self.engine.model
        name = adapter or self.base_adapter
        if name is not None:
            model.set_adapter(name)
            yield
        elif hasattr(model, "disable_adapter"):
            with model.disable_adapter():
                yield
        else:
            yield


def load_pool(ref: str, adapters: dict[str, str] | None = None, base_id: str | None = None,
              batch_size: int = 16) -> ModelPool:
    """Load ``ref`` (model name or run folder) and attach each NAME=RUN_DIR adapter."""
    adapters = dict(adapters or {})
    if is_run_folder(ref):
        model, tok, _ = load_run(Path(ref))
        if hasattr(model, "peft_config"):  # re-name the run's own adapter so user names cannot clash
            model = _rename_adapter(model, Path(ref) / "adapter")
    else:
        model, tok, _ = load_base(ref)
    for name, run in adapters.items():
        model = _attach(model, name, Path(run))
    return ModelPool(base_id or _model_id(ref), ref, model.eval(), tok, adapters, batch_size)


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
