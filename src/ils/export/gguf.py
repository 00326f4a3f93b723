"""One GGUF file from a run: merged folder → llama.cpp's converter → (llama.cpp's quantizer).

Why this route. ILS writes no GGUF itself: the mapping from Hugging Face tensors to llama.cpp's (names,
Q/K permutations, tokenizer and pre-tokenizer metadata, per architecture) is exactly what llama.cpp's
``convert_hf_to_gguf.py`` maintains, and a file made by another writer is only as good as its copy of
that logic. PyPI's ``gguf`` package has the writer but not the converter, so the converter is taken
from the llama-cpp-python source distribution (PyPI, the same file pip builds the binding from:
``vendor/llama.cpp/convert_hf_to_gguf.py``, ``conversion/`` and the matching ``gguf-py/``), which
``make install`` unpacks into ``<venv>/share/ils/llama.cpp`` (or set ``ILS_LLAMA_CPP`` to a llama.cpp
checkout). The binding and the converter then come from one llama.cpp commit, so every file written
here loads in the binding installed beside it. The converter writes f32/f16/bf16/q8_0 itself; other
types (q4_k_m, q5_k_m, q4_0, ...) go through ``llama_model_quantize``, llama.cpp's C quantizer, which
llama-cpp-python exposes.

The converter runs in its own process (``_convert.py``): it puts its own ``gguf-py`` first on
``sys.path``, which must not shadow the ``gguf`` that transformers uses in this one.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

from ils.export import ExportError
from ils.export.merge import RunInfo, merged_model, output_dtype, save_folder
from ils.io import atomic_path

CONVERTER_ENV = "ILS_LLAMA_CPP"
DIRECT = ("f32", "f16", "bf16", "q8_0")  # what convert_hf_to_gguf.py writes itself (--outtype)
INTERMEDIATE = {"float32": "f32", "bfloat16": "bf16", "float16": "f16"}  # what llama_model_quantize reads
# llama.cpp makes these only with an importance matrix (a calibration run ILS does not do)
NEEDS_IMATRIX = ("iq1_s", "iq1_m", "iq2_xxs", "iq2_xs", "iq2_s", "q2_k_s")
INSTALL_HINT = ("`make install` unpacks it from the llama-cpp-python source distribution into "
                "<venv>/share/ils/llama.cpp (docs/export.md shows the two commands), or set ILS_LLAMA_CPP "
                "to a llama.cpp checkout")


def converter_dir() -> Path:
    """The folder holding llama.cpp's convert_hf_to_gguf.py, conversion/ and gguf-py/."""
    env = os.environ.get(CONVERTER_ENV)
    for folder in ([Path(env)] if env else []) + [Path(sys.prefix) / "share" / "ils" / "llama.cpp"]:
        if (folder / "convert_hf_to_gguf.py").is_file():
            return folder
    where = f"{CONVERTER_ENV}={env}" if env else str(Path(sys.prefix) / "share" / "ils" / "llama.cpp")
    raise ExportError(f"llama.cpp's GGUF converter (convert_hf_to_gguf.py) is not installed (looked in "
                      f"{where}); {INSTALL_HINT}")


def quant_types() -> dict[str, int | None]:
    """Every type llama.cpp can write: the converter's own (None) and the quantizer's (its ftype id)."""
    known: dict[str, int | None] = {q: None for q in DIRECT}
    try:
        import llama_cpp
    except ImportError:
        return known
    for name in dir(llama_cpp):
        if name.startswith("LLAMA_FTYPE_MOSTLY_"):
            known.setdefault(name.removeprefix("LLAMA_FTYPE_MOSTLY_").lower(), getattr(llama_cpp, name))
    return known


def check_quant(quant: str) -> int | None:
    """The quantizer's ftype for ``quant`` (None: the converter writes it); a clear error otherwise."""
    known = quant_types()
    if quant in NEEDS_IMATRIX:
        raise ExportError(f"--quant {quant!r}: llama.cpp makes this type only with an importance matrix, "
                          "which ILS does not compute; use q4_k_m, q5_k_m, q6_k or q8_0")
    if quant in known:
        return known[quant]
    if len(known) == len(DIRECT):
        raise ExportError(f"--quant {quant!r}: without llama-cpp-python only {', '.join(DIRECT)} can be "
                          "written; install it (pip install 'ils[llamacpp]', build flags in docs/export.md)")
    raise ExportError(f"--quant {quant!r}: llama.cpp does not know this type; "
                      f"known: {', '.join(sorted(known))}")


def export_gguf(info: RunInfo, out: Path, quant: str, dtype: str | None) -> dict:
    quant = quant.lower()
    ftype = check_quant(quant)
    converter = converter_dir()
    name = output_dtype(info, dtype)
    model, tok = merged_model(info, name)
    with atomic_path(out) as tmp:
        merged = tmp.parent / "merged"
        save_folder(model, tok, merged, name)
        del model
        first = quant if ftype is None else INTERMEDIATE[name]
        convert(converter, merged, tmp if ftype is None else tmp.parent / "full.gguf", first)
        if ftype is not None:
            quantize(tmp.parent / "full.gguf", tmp, ftype, quant)
    return {"path": str(out), "format": "gguf", "quant": quant, "method": info.method,
            "bytes": out.stat().st_size}


def convert(converter: Path, model_dir: Path, outfile: Path, outtype: str) -> None:
    """Run llama.cpp's converter on a Hugging Face folder; its last lines become the error on failure."""
    script = Path(__file__).with_name("_convert.py")
    cmd = [sys.executable, str(script), str(converter), str(model_dir), str(outfile), outtype]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0 or not outfile.is_file():
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-12:])
        raise ExportError(f"llama.cpp's converter failed on {model_dir.name} "
                          f"(exit {done.returncode}):\n{tail}")


def quantize(src: Path, dest: Path, ftype: int, quant: str) -> None:
    """llama.cpp's own quantizer (llama_model_quantize), all cores unless OMP_NUM_THREADS says otherwise."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)
    if llama_cpp.llama_model_quantize(str(src).encode(), str(dest).encode(), ctypes.byref(params)) != 0:
        raise ExportError(f"llama.cpp's quantizer could not write {quant} from {src.name}")
