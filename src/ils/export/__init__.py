"""Hand a run to other engines: a merged Hugging Face folder, or one GGUF file for llama.cpp / ollama.

``export(run, out)`` is what ``ils export`` calls. A merged folder loads with plain ``transformers``
(and vLLM, TGI, ...); a GGUF file is made from that folder by llama.cpp's own converter and, for the
k-quants, llama.cpp's own quantizer (see ``ils.export.gguf``). Everything is checked before any work
starts (the run exists, its method can merge, the quant type is one llama.cpp knows) and the output
appears only when complete.
"""

from __future__ import annotations

from pathlib import Path

from ils.errors import ILSError


class ExportError(ILSError):
    """The run cannot be exported as asked (missing run, method that cannot merge, unknown quant type)."""


def export(run: str | Path, out: str | Path, fmt: str = "merged", *, dtype: str | None = None,
           quant: str = "q8_0", force: bool = False) -> dict:
    """Export ``run`` to ``out`` as ``merged`` (a folder) or ``gguf`` (a file); returns what was written."""
    from ils.export.merge import check_output, export_merged, inspect_run

    out = Path(out)
    if fmt not in ("merged", "gguf"):
        raise ExportError(f"export format {fmt!r}: expected merged or gguf")
    info = inspect_run(Path(run))
    check_output(out, force)
    if fmt == "merged":
        return export_merged(info, out, dtype)
    from ils.export.gguf import export_gguf

    return export_gguf(info, out, quant, dtype)
