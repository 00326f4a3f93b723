"""A run's own evaluation (the ``eval:`` block of a train config), in the layout ``ils eval -o`` writes.

Before training, the base model's prompt baselines (zero-shot and ``eval.modes``) are scored on the
test records; after training, the saved run (what users will load) on the same records. Each goes
to ``eval/<i>-<mode>/`` and the combined ``eval/report.json``, charts and report.html follow: the
folder ``ils eval TEST --compare zero-shot,...,RUN -o RUN/eval`` would write, by the same code.
An encoder head has no prompt baselines; only the run is scored. A resumed run keeps the baselines
it already scored.
"""

from __future__ import annotations

from ils.config import TrainConfig
from ils.dataset import read_split
from ils.evaluate.modes import Engines, Mode, check_modes, combine, parse_mode, score_mode, suite_config
from ils.infer.protocol import Sampling
from ils.io import RunDir


def _modes(cfg: TrainConfig, run: RunDir) -> list[Mode]:
    baselines = [] if cfg.head.kind else ["zero-shot", *cfg.eval.modes]
    return [parse_mode(s, cfg.model) for s in baselines] + [Mode(str(run.root), "tuned", str(run.root))]


def _records(cfg: TrainConfig, modes: list[Mode]) -> tuple[list, list | None]:
    test = read_split(cfg.eval.test, cfg.eval.split, cfg.eval.limit)
    few = any(m.kind == "few-shot" for m in modes)
    return test, read_split(cfg.data, "train", cfg.limit) if few else None


def _sampling(cfg: TrainConfig) -> Sampling:
    return Sampling(max_new_tokens=cfg.eval.max_new_tokens)


def eval_before(cfg: TrainConfig, run: RunDir) -> None:
    """Score the prompt baselines of the base model, unless a resumed run already did."""
    if cfg.eval is None or cfg.eval.test is None:
        return
    modes = _modes(cfg, run)
    test, train = _records(cfg, modes)
    check_modes(modes[:-1], test, train)
    engines = Engines(cfg.eval.batch_size)
    for i, m in enumerate(modes[:-1]):
        if not (run.eval / f"{i}-{m.folder}" / "report.json").is_file():
            score_mode(i, m, test, train, engines, run.eval, _sampling(cfg), cfg.seed, strict=False)


def eval_after(cfg: TrainConfig, run: RunDir) -> dict | None:
    """Score the run as saved, then combine every mode into eval/report.json, charts and html."""
    if cfg.eval is None or cfg.eval.test is None:
        return None
    modes = _modes(cfg, run)
    test, train = _records(cfg, modes)
    engines = Engines(cfg.eval.batch_size)
    last = len(modes) - 1
    score_mode(last, modes[last], test, train, engines, run.eval, _sampling(cfg), cfg.seed, strict=False)
    specs = [m.name for m in modes]
    return combine(run.eval, modes, suite_config(specs, cfg.model, cfg.seed, _sampling(cfg), test, train))
