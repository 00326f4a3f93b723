"""Training logs: ``metrics.jsonl`` (one JSON object per event), TensorBoard events, a PNG of the curves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ils.io import RunDir, atomic_path, dumps


class MetricsLog:
    def __init__(self, run: RunDir, start_step: int, tensorboard: bool = True):
        self.run = run
        _truncate(run.metrics, start_step)
        self._file = open(run.metrics, "a", encoding="utf-8")
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(run.events), purge_step=start_step + 1)

    def log(self, step: int, **values: Any) -> None:
        self._file.write(dumps({"step": step, **values}) + "\n")  # a NaN loss is written as null
        self._file.flush()
        if self._tb:
            for k, v in values.items():
                if isinstance(v, (int, float)):
                    self._tb.add_scalar(k, v, step)

    def close(self) -> None:
        self._file.close()
        if self._tb:
            self._tb.close()


def _truncate(path: Path, step: int) -> None:
    """On resume, drop events logged after the checkpoint: they will be logged again."""
    if not path.is_file():
        return
    rows = [r for r in read_metrics(path) if r["step"] <= step]
    with atomic_path(path) as tmp:
        tmp.write_text("".join(dumps(r) + "\n" for r in rows))


def read_metrics(path: Path) -> list[dict]:
    return [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]


def plot_curves(run: RunDir) -> Path:
    """plots/loss.png: training loss per step and validation loss where measured (per response token for
    a causal LM, per the head's unit for an encoder head), and the dev metric on a second axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(run.metrics)
    fig, ax = plt.subplots(figsize=(7, 4))
    for key, style in (("loss", "-"), ("val_loss", "o-")):
        pts = [(r["step"], r[key]) for r in rows if key in r]
        if pts:
            ax.plot(*zip(*pts), style, label=key.replace("_", " "))
    ax.set_xlabel("step")
    ax.set_ylabel(f"loss (per {loss_unit(run)})")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    _dev_metric(ax, rows)
    dest = run.plots / "loss.png"
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return dest


def loss_unit(run: RunDir) -> str:
    """What a run's loss is averaged over: response tokens, or the unit of its encoder head."""
    head = run.read_info().get("head") if run.info.is_file() else None
    if not head:
        return "response token"
    from ils.models.heads import get_head

    return get_head(head["kind"]).loss_unit


def _dev_metric(ax: Any, rows: list[dict]) -> None:
    pts = [(r["step"], r["val_score"]) for r in rows if r.get("val_score") is not None]
    if not pts:
        return
    name = next(r["val_metric"] for r in rows if "val_metric" in r)
    twin = ax.twinx()
    twin.plot(*zip(*pts), "s--", color="C2", label=f"validation {name}")
    twin.set_ylabel(f"validation {name}")
    twin.legend(loc="upper right")
