"""Load a model for training or inference: a base model by name, or a finished run folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ils.errors import ModelSourceError
from ils.models.chat import ensure_chat_template
from ils.models.sources import resolve


def load_tokenizer(folder: str | Path) -> Any:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return ensure_chat_template(tok)


def load_base(name: str, dtype: Any = None) -> tuple[Any, Any, Path]:
    """Resolve ``name`` to a local folder and load (model, tokenizer, folder)."""
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a 1 s load needs no bar; ours show the long work
    folder = resolve(name)
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype or torch.float32)
    return model, load_tokenizer(folder), folder


def is_run_folder(ref: str | Path) -> bool:
    return (Path(ref) / "ils.json").is_file()


def load_any(ref: str, dtype: Any = None, merge: bool = True) -> tuple[Any, Any, dict]:
    """A model name or a run folder → (model in eval mode, tokenizer, description).

    With ``merge`` a LoRA-style adapter is folded into the weights: same outputs, faster generation.
    """
    if is_run_folder(ref):
        model, tok, desc = load_run(Path(ref), dtype)
        return (merged(model) if merge else model), tok, desc
    model, tok, folder = load_base(ref, dtype)
    return model.eval(), tok, {"model": ref, "folder": str(folder)}


def load_run(run: Path, dtype: Any = None) -> tuple[Any, Any, dict]:
    """Base model + the run's adapter (PEFT format) or the run's full model."""
    info = json.loads((run / "ils.json").read_text())
    adapter = run / "adapter"
    if (adapter / "adapter_config.json").is_file():
        from peft import PeftModel

        base, _, _ = _load_run_base(info, dtype)
        model = PeftModel.from_pretrained(base, str(adapter))
        tok = load_tokenizer(adapter)
    elif (adapter / "ils_adapter.json").is_file():
        base, _, _ = _load_run_base(info, dtype)
        model, tok = load_ils_adapter(base, adapter), load_tokenizer(adapter)
    elif (run / "model" / "config.json").is_file():
        model, tok, _ = _load_run_base({**info, "base_model": str(run / "model")}, dtype)
    else:
        raise ModelSourceError(f"{run}: run folder has neither adapter/ nor model/ (did training finish?)")
    return model.eval(), tok, {"model": str(run), "base_model": info["base_model"], "run": info}


def merged(model: Any) -> Any:
    """Fold a LoRA-style adapter into the base weights when the method allows it (not prompt tuning)."""
    try:
        return model.merge_and_unload()
    except (AttributeError, ValueError, NotImplementedError, TypeError):
        return model


def _load_run_base(info: dict, dtype: Any) -> tuple[Any, Any, Path]:
    """A run's base: a causal LM, or for an encoder-head run the head class with its label count."""
    head = info.get("head")
    if not head:
        return load_base(info["base_model"], dtype)
    from ils.models.heads import HeadSpec, build_model

    folder = resolve(info["base_model"])
    return build_model(folder, HeadSpec.from_dict(head), dtype), load_tokenizer(folder), folder


def load_ils_adapter(base: Any, folder: Path) -> Any:
    """ILS's own adapter format (bottleneck adapters, BitFit): re-create the modules, load tensors."""
    import torch
    from safetensors.torch import load_file

    from ils.models.bottleneck import add_adapters

    spec = json.loads((folder / "ils_adapter.json").read_text())
    if spec["method"] == "adapter":
        add_adapters(base, spec["options"]["size"], spec["options"]["style"])
    params = dict(base.named_parameters())
    state = load_file(folder / "adapter.safetensors")
    missing = sorted(set(state) - set(params))
    if missing:
        raise ModelSourceError(f"{folder}: adapter tensors do not fit the base model: {missing[:3]}")
    with torch.no_grad():
        for k, v in state.items():
            params[k].copy_(v)
    return base
