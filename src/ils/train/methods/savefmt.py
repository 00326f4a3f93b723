"""ILS's adapter format for methods PEFT lacks: ``ils_adapter.json`` + the trained tensors.

``ils.models.loading.load_run`` reads it back onto the base model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.torch import save_file

from ils.train.methods import trainable_state


def save_trained(model: Any, tokenizer: Any, dest: Path, method: str, options: dict) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in trainable_state(model).items()}
    save_file(state, dest / "adapter.safetensors")
    (dest / "ils_adapter.json").write_text(json.dumps({"method": method, "options": options}, indent=2))
    tokenizer.save_pretrained(dest)
