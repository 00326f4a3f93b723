"""A run with one adapter per task (``adapters.json``) as one engine: every adapter on one base, each
prompt routed to the adapter whose task it belongs to.

The router is the one plans use (``ils.infer.route.TemplateRouter``), learned from the texts each
adapter lists (its tasks' templates and a sample of its training instructions). The prompts of each
adapter are submitted together, all adapters at once from worker threads, so the engine batches rows
of different adapters into the same forward passes (PEFT's per-row ``adapter_names``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ils.errors import EvalError
from ils.infer.protocol import Completion, Engine, OnText, Prompt, Sampling, is_chat, per_prompt
from ils.infer.route import TemplateRouter

FILE = "adapters.json"


def is_routed_run(ref: str | Path) -> bool:
    return (Path(ref) / FILE).is_file()


def prompt_text(prompt: Prompt) -> str:
    return prompt if not is_chat(prompt) else "\n".join(m["content"] for m in prompt if m["role"] != "assistant")


class RoutedEngine(Engine):
    name = "routed"

    def __init__(self, inner: Any, adapters: dict[str, dict]):
        self.inner, self.adapters = inner, adapters
        self.context = inner.context
        self.router = TemplateRouter({name: a["texts"] or a["tasks"] for name, a in adapters.items()})

    @classmethod
    def load(cls, ref: str, batch_size: int = 16, **options: Any) -> RoutedEngine:
        from ils.infer.engine import LocalEngine

        adapters = json.loads((Path(ref) / FILE).read_text())["adapters"]
        model, tok = _with_adapters(adapters)
        return cls(LocalEngine(model.eval(), tok, batch_size=batch_size, identity=f"routed:{ref}"), adapters)

    def route(self, prompts: Sequence[Prompt]) -> list[str]:
        return [self.router.predict(prompt_text(p)) for p in prompts]

    def generate(self, prompts: Sequence[Prompt], sampling: Sampling | Sequence[Sampling] | None = None, *,
                 adapter: str | None = None, on_text: OnText | None = None,
                 progress: bool = False) -> list[Completion]:
        settings = per_prompt(sampling, len(prompts))
        names = [adapter] * len(prompts) if adapter else self.route(prompts)

        def run(name: str) -> list[tuple[int, Completion]]:
            idx = [i for i, n in enumerate(names) if n == name]
            done = self.inner.generate([prompts[i] for i in idx], [settings[i] for i in idx], adapter=name)
            return list(zip(idx, done))

        return _ordered(names, run)

    def score(self, prompts: Sequence[Prompt], options: Sequence[Sequence[str]], *,
              adapter: str | None = None) -> list[list[float]]:
        names = [adapter] * len(prompts) if adapter else self.route(prompts)

        def run(name: str) -> list[tuple[int, list[float]]]:
            idx = [i for i, n in enumerate(names) if n == name]
            return list(zip(idx, self.inner.score([prompts[i] for i in idx], [options[i] for i in idx], adapter=name)))

        return _ordered(names, run)

    def count_tokens(self, prompt: Prompt) -> int:
        return self.inner.count_tokens(prompt)

    def close(self) -> None:
        self.inner.close()

    def stats(self) -> dict:
        return self.inner.stats()


def _ordered(names: list[str], run: Any) -> list:
    """Run each adapter's share in its own thread (one engine batches them together); input order out."""
    groups = sorted(set(names))
    out: list = [None] * len(names)
    with ThreadPoolExecutor(max_workers=max(1, len(groups))) as pool:
        for part in pool.map(run, groups):
            for i, value in part:
                out[i] = value
    return out


def _with_adapters(adapters: dict[str, dict]) -> tuple[Any, Any]:
    """The shared base model with every listed LoRA adapter attached under its name."""
    from peft import PeftModel

    from ils.models.loading import load_base, load_tokenizer

    first = Path(next(iter(adapters.values()))["run"])
    info = json.loads((first / "ils.json").read_text())
    base, _, _ = load_base(info["base_model"])
    model = None
    for name, a in adapters.items():
        folder = Path(a["run"]) / "adapter"
        if not (folder / "adapter_config.json").is_file():
            raise EvalError(f"{FILE}: adapter {name!r}: {folder} is not a LoRA adapter (missing, or not finished)")
        if model is None:
            model = PeftModel.from_pretrained(base, str(folder), adapter_name=name)
        else:
            model.load_adapter(str(folder), adapter_name=name)
    return model, load_tokenizer(first / "adapter")
