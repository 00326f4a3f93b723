"""Fold a run's trained weights into its base model and save one standalone Hugging Face folder.

Whether a run can merge is read from what it saved, not from a list of method names, so a plugin
method that saves PEFT LoRA merges too: PEFT weight-delta adapters (LoRA, DoRA, AdaLoRA, IA3, ...)
are folded in by PEFT's own ``merge_and_unload``; full and freeze runs already hold a whole model;
BitFit's trained biases are loaded onto the base. Prompt-learning adapters and bottleneck adapters
change no weight of the base architecture, so they are refused with the reason.

The folder keeps the base model's dtype unless told otherwise (a merge that silently writes fp32
doubles a bf16 model), and carries the tokenizer and the chat template the run was trained with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ils.export import ExportError
from ils.io import RunDir, atomic_path, write_json

DTYPE_NAMES = {"bf16": "bfloat16", "bfloat16": "bfloat16", "fp16": "float16", "float16": "float16",
               "fp32": "float32", "float32": "float32"}
# Why a method's result is not a weight change of the base model (shown to the user as is).
CANNOT_MERGE = {
    "prefix": "prefix tuning learns key/value prefixes fed to every attention layer at run time; they are "
              "extra inputs, not a change to any weight of the base model",
    "prompt": "prompt tuning learns soft-prompt embeddings put before every input at run time; they are "
              "extra inputs, not a change to any weight of the base model",
    "adapter": "bottleneck adapters add new layers (down-projection, non-linearity, up-projection) after "
               "attention and MLP; the base architecture has no place for them, so no merged weights exist",
}
MERGEABLE = "lora, dora, adalora, ia3, bitfit, full or freeze"


@dataclass(frozen=True)
class RunInfo:
    root: Path
    method: str
    base_model: str


def inspect_run(run: Path) -> RunInfo:
    """The run's method and base, or a clear refusal before any model is loaded."""
    rd = RunDir(run)
    if not run.exists():
        raise ExportError(f"{run}: no such run folder")
    if not rd.is_run():
        raise ExportError(f"{run}: not a run folder (no ils.json); export takes the folder `ils train` wrote")
    info = rd.read_info()
    method = str(info.get("method", "unknown"))
    if info.get("head"):
        raise ExportError(f"{run}: method {method!r} trained an encoder head (kind "
                          f"{info['head'].get('kind')}); export makes causal LMs for llama.cpp and vLLM; "
                          "load this run with ILS instead")
    reason = _why_not(rd, method)
    if reason:
        raise ExportError(f"{run}: method {method!r} cannot be merged into the base model: {reason}. "
                          f"Serve the run with ILS instead (ils serve -m {run}), or train with {MERGEABLE} "
                          "to export it")
    return RunInfo(run, method, str(info["base_model"]))


def _why_not(rd: RunDir, method: str) -> str | None:
    """None if the run's saved weights can be folded into its base; else the reason they cannot."""
    peft_cfg, ils_cfg = rd.adapter / "adapter_config.json", rd.adapter / "ils_adapter.json"
    if peft_cfg.is_file():
        from peft import PeftConfig

        if PeftConfig.from_pretrained(str(rd.adapter)).is_prompt_learning:
            return CANNOT_MERGE.get(method, "prompt-learning adapters add virtual tokens at run time, "
                                            "not a change to any weight")
        return None
    if ils_cfg.is_file():
        saved = json.loads(ils_cfg.read_text())["method"]
        if saved == "bitfit":
            return None
        return CANNOT_MERGE.get(saved, f"ILS adapters of kind {saved!r} have no merge")
    if (rd.model / "config.json").is_file():
        return None
    raise ExportError(f"{rd.root}: run folder has neither adapter/ nor model/ (did training finish?)")


def check_output(out: Path, force: bool) -> None:
    if out.exists() and not force:
        raise ExportError(f"{out} exists; remove it or pass --force to replace it")


def output_dtype(info: RunInfo, requested: str | None) -> str:
    """The requested dtype, else the base model's own (read from its config.json)."""
    if requested:
        if requested not in DTYPE_NAMES:
            raise ExportError(f"--dtype {requested!r}: expected one of bf16, fp16, fp32")
        return DTYPE_NAMES[requested]
    from ils.models.sources import resolve

    config = json.loads((resolve(info.base_model) / "config.json").read_text())
    return DTYPE_NAMES.get(str(config.get("dtype") or config.get("torch_dtype")), "float32")


def merged_model(info: RunInfo, dtype: str) -> tuple[Any, Any]:
    """(the run's model with its adapter folded in, tokenizer), weights in ``dtype``."""
    import torch

    from ils.models.loading import load_run

    model, tok, _ = load_run(info.root, getattr(torch, dtype))
    if hasattr(model, "merge_and_unload"):
        try:
            model = model.merge_and_unload()
        except (AttributeError, ValueError, TypeError, NotImplementedError) as e:
            raise ExportError(f"{info.root}: PEFT could not merge the {info.method!r} adapter: {e}") from None
    return model.to(getattr(torch, dtype)), tok


def save_folder(model: Any, tok: Any, dest: Path, dtype: str) -> None:
    model.config.dtype = dtype
    model.save_pretrained(dest, safe_serialization=True)
    tok.save_pretrained(dest)


def export_merged(info: RunInfo, out: Path, dtype: str | None) -> dict:
    name = output_dtype(info, dtype)
    model, tok = merged_model(info, name)
    with atomic_path(out) as tmp:
        save_folder(model, tok, tmp, name)
        write_json(tmp / "ils-export.json", {"run": str(info.root), "method": info.method,
                                              "base_model": info.base_model, "dtype": name})
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"path": str(out), "format": "merged", "dtype": name, "method": info.method, "bytes": size}
