"""Run llama.cpp's convert_hf_to_gguf.py in this (separate) process: CONVERTER_DIR MODEL_DIR OUTFILE OUTTYPE.

A script, not a module ILS imports: the converter puts its own ``gguf-py`` first on ``sys.path``.
One addition to the converter: it names a BPE pre-tokenizer by hashing how a model's tokenizer splits
a fixed text, and refuses tokenizers whose hash it has not seen (every freshly trained tokenizer).
When such a tokenizer's pre-tokenizer is, structurally, one that llama.cpp implements (plain GPT-2
byte-level ("gpt-2"), or SmolLM's single digits then byte-level), that name is used instead of failing; any
other unknown pre-tokenizer still fails with the converter's own message.
"""

from __future__ import annotations

import json
import logging
import runpy
import sys
from pathlib import Path


def _steps(pre: dict) -> list[dict]:
    return pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else [pre]


def _is_byte_level(step: dict) -> bool:
    return (step.get("type") == "ByteLevel" and step.get("use_regex", True)
            and not step.get("add_prefix_space"))


def known_structure(model_dir: Path) -> str | None:
    """The llama.cpp pre-tokenizer name matching tokenizer.json's pre_tokenizer, if one matches exactly."""
    path = model_dir / "tokenizer.json"
    if not path.is_file():
        return None
    steps = _steps(json.loads(path.read_text()).get("pre_tokenizer") or {})
    if len(steps) == 1 and _is_byte_level(steps[0]):
        return "gpt-2"
    if (len(steps) == 2 and steps[0].get("type") == "Digits" and steps[0].get("individual_digits")
            and _is_byte_level(steps[1])):
        return "smollm"
    return None


def patch(base: object) -> None:
    original = base.TextModel.get_vocab_base_pre

    def get_vocab_base_pre(self, tokenizer) -> str:
        try:
            return original(self, tokenizer)
        except NotImplementedError:
            name = known_structure(Path(self.dir_model))
            if name is None:
                raise
            logging.getLogger("ils").warning("pre-tokenizer hash not in llama.cpp's table; its structure is "
                                             "llama.cpp's %r, using that", name)
            return name

    base.TextModel.get_vocab_base_pre = get_vocab_base_pre


def main(converter: str, model_dir: str, outfile: str, outtype: str) -> None:
    root = Path(converter)
    sys.path[:0] = [str(root), str(root / "gguf-py")]
    try:
        import conversion.base as base
    except ImportError:  # an older llama.cpp checkout: a one-file converter, used as it is
        base = None
    if base is not None:
        patch(base)
    script = root / "convert_hf_to_gguf.py"
    sys.argv = [str(script), model_dir, "--outfile", outfile, "--outtype", outtype]
    runpy.run_path(str(script), run_name="__main__")


if __name__ == "__main__":
    main(*sys.argv[1:5])
