"""The continual loop (``ils loop``): feedback + replay → data → train → evaluate → gate → promote.

Accepted answers (rating > 0) and corrections from the store become training examples; they are
deduplicated (the newest answer to a prompt wins) and decontaminated against the fixed regression set
(same prompt, or a shared 8-word run), then mixed with a replay sample of earlier training data so the
new version does not forget what the old one knew. The new version is tuned from the current one (a
LoRA run is merged into its base first), both are scored on the regression set and on held-out
feedback, and the new one is promoted only if regression drops by at most ``tolerance`` and the
feedback score improves. Every version and its scores is a row in the store; a running server picks
the promoted one up on ``POST /admin/reload`` or SIGHUP.

With ``objective: dpo`` the corrections become chosen/rejected pairs (chosen = the correction, rejected =
the answer the model gave); with ``kto`` every rating becomes a desirable or undesirable answer (replay
records join as desirable ones). For both, the feedback score is the held-out log-probability margin of
the preferred answers over the others. ``ewc`` (Fisher on the replay data), ``lwf`` (KL to the current
version on the new data) and ``adapters`` (a fresh LoRA per version on the original base, routed) are the
continual options of ``ils train`` (``ils.train.continual``), set for the version's run.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from ils.config import ContinualOptions, LoraOptions, PreferenceOptions, Strict, TrainConfig
from ils.errors import ILSError
from ils.feedback_data import decontaminate, norm, prompt_text, split_heldout
from ils.io import RunDir, write_json
from ils.records import Example
from ils.store import open_store
from ils.store.db import Store


class LoopConfig(Strict):
    regression: str = Field(..., description="fixed regression set: a file or a dataset folder (test split)")
    replay: str | None = Field(None, description="earlier training data: a file or a dataset folder (train split)")
    replay_ratio: float = Field(1.0, ge=0, description="replay examples per new feedback example")
    heldout: float = Field(0.25, gt=0, lt=1, description="share of feedback examples kept for the feedback score")
    tolerance: float = Field(0.02, ge=0, description="allowed drop of the regression score")
    current: str | None = Field(None, description="current model or run (default: the store's current version)")
    db: str | None = Field(None, description="store URL (default: sqlite under ILS_HOME)")
    output: str = Field("loop-runs", description="folder for the versions' data, runs and reports")
    max_steps: int = Field(50, ge=1, description="optimizer steps of each new version's LoRA run")
    lr: float = Field(5e-4, gt=0, allow_inf_nan=False, description="peak learning rate")
    batch_size: int = Field(8, ge=1, description="records per step")
    lora: LoraOptions = Field(LoraOptions(r=8, alpha=16, dropout=0.0), description="LoRA options")
    bf16: bool | None = Field(None, description="bf16 autocast; default: only where the hardware has bf16 units")
    max_new_tokens: int = Field(32, ge=1, description="longest generated answer when scoring")
    seed: int = Field(0, ge=0, lt=2**32, description="seed of sampling and training")
    objective: Literal["sft", "dpo", "kto"] = Field("sft", description="sft on accepted answers and corrections, "
                                                    "dpo on corrections as pairs, kto on every rating")
    beta: float = Field(0.1, gt=0, description="dpo/kto: how far the new version may move from the current one")
    sft_weight: float = Field(1.0, ge=0, description="dpo: weight of an SFT term on the corrections (RPO), which "
                              "keeps them likely; at 0 (plain DPO) a round on length feedback learned to answer "
                              "nothing (docs/continual.md)")
    ewc: float = Field(0.0, ge=0, description="EWC weight (Fisher on the replay data; needs replay)")
    lwf: float = Field(0.0, ge=0, description="LwF weight (KL to the current version's outputs on the new data; sft)")
    adapters: bool = Field(False, description="a fresh LoRA per version on the original base, routed at inference")


def run_loop(cfg: LoopConfig) -> dict:
    """One turn of the loop; returns the version's report (also written to ``<output>/<name>/report.json``)."""
    _check(cfg)
    store = open_store(cfg.db)
    regression = _read(cfg.regression, "test")
    data = build_loop_data(store.feedback(), regression, _read(cfg.replay, "train") if cfg.replay else [], cfg)
    current, parent = _current(store, cfg)
    name = f"v{len(store.versions())}"
    out = Path(cfg.output).resolve() / name
    _write_data(out / "data", data)
    run = _train(cfg, current, out)
    scores = _score(current, str(run), regression, data["heldout"], cfg, out)
    status = "promoted" if gate(scores, cfg.tolerance) else "rejected"
    store.add_version(name, str(run), status, parent=parent, scores=scores)
    report = {"version": name, "status": status, "parent": parent, "run": str(run), "scores": scores,
              "data": data["manifest"]}
    write_json(out / "report.json", report)
    return report


def gate(scores: dict, tolerance: float) -> bool:
    reg, fb = scores["regression"], scores["feedback"]
    return reg["new"] >= reg["current"] - tolerance and fb["new"] > fb["current"]


def _current(store: Store, cfg: LoopConfig) -> tuple[str, str]:
    row = store.current_version()
    if cfg.current is not None or row is None:
        ref = cfg.current or "default"
        name = f"v{len(store.versions())}-base"
        store.add_version(name, ref, "base")
        return ref, name
    return row.run_dir, row.name


def _read(path: str, split: str) -> list[Example]:
    from ils.dataset import read_split

    return read_split(path, split)


# --- feedback → examples -------------------------------------------------------------------------


def feedback_examples(rows: list[dict]) -> tuple[list[Example], dict[str, int]]:
    """Accepted answers and corrections as examples; the newest answer to a prompt wins."""
    drops: dict[str, int] = {}
    by_prompt: dict[str, Example] = {}
    for row in rows:
        target = row["correction"] or (row["output"] if row["rating"] > 0 else None)
        reason = _unusable(row, target)
        if reason:
            drops[reason] = drops.get(reason, 0) + 1
            continue
        ex = Example(messages=[*row["prompt"], {"role": "assistant", "content": target}],
                     id=f"feedback-{row['id']}", source=f"feedback:{row['id']}", meta={"rating": row["rating"]})
        key = norm(prompt_text(ex))
        if key in by_prompt:
            drops["duplicate prompt (newer feedback kept)"] = drops.get("duplicate prompt (newer feedback kept)", 0) + 1
        by_prompt[key] = ex
    return list(by_prompt.values()), drops


def _unusable(row: dict, target: str | None) -> str | None:
    if row["kind"] != "chat":
        return "text completion (not an instruction)"
    if not target or not target.strip():
        return "not accepted and no correction"
    return None


def _preference(cfg: LoopConfig) -> PreferenceOptions:
    return PreferenceOptions(beta=cfg.beta, sft_weight=cfg.sft_weight if cfg.objective == "dpo" else 0.0)


def _check(cfg: LoopConfig) -> None:
    """Options that cannot run together, before anything is read or written."""
    if cfg.ewc and not cfg.replay:
        raise ILSError("ils loop: --ewc needs --replay: EWC's Fisher is computed on the earlier data")
    if cfg.lwf and cfg.objective != "sft":
        raise ILSError(f"ils loop: --lwf distils next-token outputs on the training answers; objective "
                       f"{cfg.objective} has none (use --objective sft)")


def build_loop_data(rows: list[dict], regression: list[Example], replay: list[Example], cfg: LoopConfig) -> dict:
    if cfg.objective != "sft":
        from ils.loopprefs import preference_data

        return preference_data(rows, regression, replay, cfg)
    examples, drops = feedback_examples(rows)
    examples, contaminated = decontaminate(examples, regression)
    if contaminated:
        drops["in the regression set"] = contaminated
    if len(examples) < 2:
        raise ILSError(f"ils loop: {len(examples)} usable feedback examples (need 2: one to train, one held out); "
                       f"dropped: {drops or 'none'}")
    train, heldout = split_heldout(examples, cfg.heldout)
    replay, _ = decontaminate(replay, regression)
    rng = random.Random(cfg.seed)
    sample = rng.sample(replay, min(len(replay), round(cfg.replay_ratio * len(train))))
    mixed = train + sample
    rng.shuffle(mixed)
    manifest = {"feedback_rows": len(rows), "train_feedback": len(train), "heldout_feedback": len(heldout),
                "replay": len(sample), "replay_pool": len(replay), "dropped": drops}
    return {"train": mixed, "heldout": heldout, "manifest": manifest}


def _write_data(folder: Path, data: dict) -> None:
    """The version's dataset folder: train (feedback + replay) and test (the held-out feedback)."""
    from ils.dataset import write_dataset

    write_dataset(folder, {"train": data["train"], "test": data["heldout"]}, "loop", extra=data["manifest"])


# --- train from the current version, evaluate both ----------------------------------------------


def _tunable_base(current: str, out: Path, adapters: bool = False) -> str:
    """A plain model folder to put the new LoRA on: a LoRA run is merged into its base first (with
    ``adapters``, the run's own base: the new adapter sits beside the earlier ones)."""
    run = RunDir(current)
    if not run.is_run():
        return current
    if adapters:
        import json

        return json.loads(run.info.read_text())["base_model"]
    if (run.model / "config.json").is_file():
        return str(run.model.resolve())
    merged = out / "base"
    if not (merged / "config.json").is_file():
        _merge(current, merged)
    return str(merged)


def _merge(run: str, dest: Path) -> None:
    from ils.io import atomic_path
    from ils.models.loading import load_run

    model, tok, _ = load_run(Path(run))
    with atomic_path(dest) as tmp:
        model.merge_and_unload().save_pretrained(tmp)
        tok.save_pretrained(tmp)


def _train(cfg: LoopConfig, current: str, out: Path) -> Path:
    from ils.train.loop import train

    run = out / "run"
    if RunDir(run).is_run():
        return run
    base = _tunable_base(current, out, cfg.adapters)
    tc = TrainConfig(model=base, data=str(out / "data"), output=str(run), method="lora", lora=cfg.lora,
                     max_steps=cfg.max_steps, batch_size=cfg.batch_size, lr=cfg.lr, bf16=cfg.bf16,
                     warmup_steps=min(10, cfg.max_steps // 10), eval_every=0, save_every=0, seed=cfg.seed,
                     objective=cfg.objective, preference=_preference(cfg),
                     continual=_continual(cfg, current, base))
    return train(tc)


def _continual(cfg: LoopConfig, current: str, base: str) -> ContinualOptions:
    """The version's continual options: EWC on the replay data, LwF to the model it starts from, and with
    ``adapters`` the current LoRA run as the previous adapter."""
    previous = current if cfg.adapters and RunDir(current).is_run() else None
    return ContinualOptions(ewc=cfg.ewc, ewc_data=cfg.replay if cfg.ewc else None, lwf=cfg.lwf,
                            teacher=base if cfg.lwf else None, adapters=cfg.adapters, previous=previous)


def _score(current: str, new: str, regression: list[Example], heldout: list[Example], cfg: LoopConfig,
           out: Path) -> dict[str, Any]:
    from ils.evaluate.judge import headline_score
    from ils.evaluate.routed import RoutedEngine, is_routed_run
    from ils.evaluate.runner import evaluate
    from ils.infer.engines import load_engine
    from ils.infer.protocol import Sampling

    scores: dict[str, Any] = {"regression": {}, "feedback": {}}
    for label, ref in (("current", current), ("new", new)):
        engine = RoutedEngine.load(ref) if is_routed_run(ref) else load_engine(ref, "hf")
        report = evaluate(engine, regression, out / "eval" / f"{label}-regression", Sampling(cfg.max_new_tokens),
                          label=ref, progress=False)
        scores["regression"][label] = headline_score(report)
        scores["feedback"][label] = _feedback_score(engine, heldout, cfg, out / "eval" / f"{label}-feedback", ref)
        engine.close()
    if cfg.objective != "sft":
        scores["feedback"]["metric"] = "log-prob margin of preferred answers"
    return scores


def _feedback_score(engine: Any, heldout: list[Example], cfg: LoopConfig, dest: Path, ref: str) -> float:
    from ils.evaluate.judge import headline_score
    from ils.evaluate.runner import evaluate
    from ils.infer.protocol import Sampling

    if cfg.objective != "sft":
        from ils.loopprefs import preference_margin

        return preference_margin(engine, heldout)
    report = evaluate(engine, heldout, dest, Sampling(cfg.max_new_tokens), label=ref, progress=False)
    return headline_score(report)
