"""The main job, end to end on the embedded default model (``make demo`` / ``ils demo``).

Build a procedural instruction set, score SmolLM2-135M-Instruct on its test split, LoRA-tune it,
score it again, and print a before/after table. Sized to finish in a few minutes on 2 CPU cores.
"""

from __future__ import annotations

from pathlib import Path

from ils.config import EvalOptions, LoraOptions, TrainConfig
from ils.tasks.procedural import build_dataset

DEMO_TASKS = ["add", "sort_numbers", "max_number", "first_last", "reverse_words", "uppercase",
              "count_words", "extract_email", "extract_number", "kv_to_json"]


def demo_config(out: Path, steps: int, model: str = "default") -> TrainConfig:
    return TrainConfig(
        model=model, data=str(out / "data"), output=str(out / "run"), method="lora",
        lora=LoraOptions(r=16, alpha=32, dropout=0.0), max_steps=steps, batch_size=8, lr=1e-3,
        warmup_steps=10, schedule="cosine", eval_every=50, save_every=50, seed=0,
        eval=EvalOptions(test=str(out / "data"), max_new_tokens=32, batch_size=16))


def run_demo(out: str | Path = "demo-out", steps: int = 100, n: int = 120, seed: int = 0,
             model: str = "default") -> Path:
    """Returns the run folder; its eval/report.json holds the before/after scores."""
    from ils.train.loop import train

    out = Path(out)
    if not (out / "data" / "manifest.json").is_file():
        build_dataset(out / "data", DEMO_TASKS, n=n, seed=seed)
    return train(demo_config(out, steps, model))
