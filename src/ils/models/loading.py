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

    folder = resolve(name)
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype or torch.float32)
    return model, load_tokenizer(folder), folder


def is_run_folder(ref: str | Path) -> bool:
    return (Path(ref) / "ils.json").is_file()


def load_any(ref: str, dtype: Any = None) -> tuple[Any, Any, dict]:
    """A model name or a run folder → (model in eval mode, tokenizer, description)."""
    if is_run_folder(ref):
        return load_run(Path(ref), dtype)
    model, tok, folder = load_base(ref, dtype)
    return model.eval(), tok, {"model": ref, "folder": str(folder)}


def load_run(run: Path, dtype: Any = None) -> tuple[Any, Any, dict]:
    """Base model + the run's adapter (PEFT format) or the run's full model."""
    info = json.loads((run / "ils.json").read_text())
    if (run / "adapter" / "adapter_config.json").is_file():
        from peft import PeftModel

        base, _, _ = load_base(info["base_model"], dtype)
        model = PeftModel.from_pretrained(base, str(run / "adapter"))
        tok = load_tokenizer(run / "adapter")
    elif (run / "model" / "config.json").is_file():
        model, tok, _ = load_base(str(run / "model"), dtype)
    else:
        raise ModelSourceError(f"{run}: run folder has neither adapter/ nor model/ (did training finish?)")
    return model.eval(), tok, {"model": str(run), "base_model": info["base_model"], "run": info}
