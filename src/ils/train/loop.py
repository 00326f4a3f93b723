"""The one training loop: instruction tuning of a causal LM, in the spirit of nanoGPT's train.py.

Run it with ``ils train config.yaml`` or ``ils.train.loop.train(cfg)``. It owns the parts that make
small-model CPU training fast and exact: length-grouped batches with dynamic padding, response-only
loss (logits only where trained), gradient accumulation, warm-up + cosine/linear schedule, validation
and early stopping, and checkpoints that resume to the same per-step losses.
"""

from __future__ import annotations

import gc
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from safetensors.torch import load_file, save_file

from ils import __version__
from ils.config import TrainConfig, dump_config
from ils.errors import TrainingError
from ils.io import RunDir, atomic_path, write_json, write_text
from ils.train.batching import batch_plan
from ils.train.checkpoint import Progress, load_checkpoint, save_checkpoint
from ils.train.data import TrainData
from ils.train.evalhook import eval_after, eval_before
from ils.train.log import MetricsLog, plot_curves
from ils.train.memory import choose_checkpointing, steady_malloc
from ils.train.methods import Method, get_method, load_trainable, trainable_state
from ils.train.regularise import regularise

StepHook = Callable[[int, dict], None]


@dataclass
class Session:
    cfg: TrainConfig
    run: RunDir
    method: Method
    model: Any
    tok: Any
    data: TrainData
    loss_fn: Any
    optimizer: Any
    scheduler: Any
    accelerator: Any
    total_steps: int
    extras: Any = None  # ils.train.extras.Extras: LwF, EWC, FGM/PGD, stored reference tensors
    checkpointed: int = 0  # blocks under activation checkpointing (ils.train.memory)


def train(cfg: TrainConfig, resume: bool = False, on_step: StepHook | None = None) -> Path:
    """Train, write the run folder, return its path. ``on_step(step, metrics)`` runs after each step.

    Everything that can fail before training (config, model, data, method, head) is checked before
    the run folder is created, so a corrected rerun is never refused with "already exists"."""
    steady_malloc()  # large tensors from mmap: 3x lower peak RSS at long inputs (ils.train.memory)
    run = RunDir(cfg.output)
    cfg = _resumed(run) if resume else _checked(cfg, run)
    cfg = cfg.model_copy(update={"bf16": resolve_bf16(cfg.bf16)})  # the run folder records the choice
    accelerator = _accelerator(cfg)
    s = _build_session(cfg, run, accelerator, run.root if resume else None)
    cfg = s.cfg  # with the head kind the records' task named, when the config said auto
    if not resume:
        _create_run(cfg, run, accelerator)
    if accelerator.is_main_process:
        s.extras.save(run.root)
    if accelerator.is_main_process:
        _write_info(run, cfg, s.model, s.data, status="training", checkpointed_blocks=s.checkpointed)
    progress = _restore(s) if resume else Progress()
    if accelerator.is_main_process:
        eval_before(cfg, run)
    _run_steps(s, progress, on_step)
    _finish(s, progress)
    main = accelerator.is_main_process
    del s, accelerator  # the trained model and optimizer go before eval_after loads the saved run
    gc.collect()
    if main:
        eval_after(cfg, run)
    return run.root


def resolve_bf16(asked: bool | None) -> bool:
    """An explicit choice is kept; unset means bf16 only where it is native (emulated bf16 is slower)."""
    if asked is not None:
        return asked
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    from ils.cpu import has_bf16_units

    return has_bf16_units()


def _checked(cfg: TrainConfig, run: RunDir) -> TrainConfig:
    from ils.train.checks import check_config

    if run.root.exists() and any(run.root.iterdir()):
        raise TrainingError(f"{run.root} already exists; pass --resume to continue it or choose --output")
    check_config(cfg)
    return cfg


def _resumed(run: RunDir) -> TrainConfig:
    if not run.config.is_file():
        raise TrainingError(f"{run.root}: nothing to resume (no config.yaml)")
    from ils.config import load_config

    return load_config(TrainConfig, run.config)


def _accelerator(cfg: TrainConfig) -> Any:
    """Devices, mixed precision and DDP/FSDP/DeepSpeed (from torchrun / accelerate launch)."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state()  # a second train() in one process may change mixed precision
    return Accelerator(mixed_precision="bf16" if cfg.bf16 else "no", cpu=not torch.cuda.is_available())


def _create_run(cfg: TrainConfig, run: RunDir, accelerator: Any) -> None:
    """The run folder, once the run can start; only the main process writes it."""
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        run.root.mkdir(parents=True, exist_ok=True)
        write_text(run.config, dump_config(cfg))
    accelerator.wait_for_everyone()


def _build_session(cfg: TrainConfig, run: RunDir, accelerator: Any, resume_root: Path | None = None) -> Session:
    from ils.train import extras as run_extras
    from ils.train.objectives import get_objective

    torch.manual_seed(cfg.seed)
    method, objective = get_method(cfg.method), get_objective(cfg.objective)
    base, tok, data, loss_cls = _load_for_task(cfg, objective)
    if data.head and cfg.head.kind != data.head["kind"]:
        cfg = cfg.model_copy(update={"head": cfg.head.model_copy(update={"kind": data.head["kind"]})})
    method.check(base, cfg)
    total = _total_steps(cfg, len(data.train), accelerator.num_processes)
    model = regularise(method.apply(base, cfg, total), cfg)
    extras = run_extras.build(cfg, method, model, tok, data, objective, loss_cls, resume_root)
    if cfg.bf16 and cfg.head.kind is None and method.folder == "adapter":
        _frozen_in_bf16(model)  # the base is not saved, so rounding it costs nothing on disk
    optimizer, scheduler = _optimizer(cfg, model, total)
    loss_module = loss_cls(model)
    loss_module.keep_logits = extras.lwf is not None
    checkpointed = choose_checkpointing(cfg, model, loss_module, data.train, tok.pad_token_id)
    loss_fn, optimizer, scheduler = accelerator.prepare(loss_module, optimizer, scheduler)
    return Session(cfg, run, method, model, tok, data, loss_fn, optimizer, scheduler, accelerator, total, extras,
                   checkpointed)


def _frozen_in_bf16(model: Any) -> None:
    """Under bf16 autocast, frozen weights are cast to bf16 for every matmul anyway; storing them in
    bf16 once skips those casts and the bf16 copies autograd keeps, and halves saved activations."""
    for p in model.parameters():
        if not p.requires_grad and p.dtype == torch.float32:
            p.data = p.data.to(torch.bfloat16)


def _load_for_task(cfg: TrainConfig, objective: Any) -> tuple[Any, Any, TrainData, Any]:
    """(model, tokenizer, tokenized data, loss module) for an instruction run or an encoder head."""
    if cfg.head.kind is not None:
        from ils.train.heads import load_head_task

        return load_head_task(cfg)
    from ils.models.loading import load_base

    base, tok, _ = load_base(cfg.model)
    data = objective.load_data(cfg, tok)
    _check_lengths(data, base)
    return base, tok, data, lambda model: objective.loss_module(model, cfg)


def _check_lengths(data: TrainData, model: Any) -> None:
    limit = getattr(model.config, "max_position_embeddings", None)
    longest = max(len(item[0]) for item in data.train)
    if limit and longest > limit:
        raise TrainingError(f"a training sequence has {longest} tokens, more than the model's {limit} "
                            "positions; lower max_length")


def _total_steps(cfg: TrainConfig, n: int, world: int = 1) -> int:
    per_epoch = math.ceil(math.ceil(n / cfg.batch_size) / (cfg.grad_accum * world))
    return cfg.max_steps or max(1, math.ceil(cfg.epochs * per_epoch))


def _optimizer(cfg: TrainConfig, model: Any, total: int) -> tuple[Any, Any]:
    from transformers import get_scheduler

    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise TrainingError(f"method {cfg.method!r} left no parameter to train")
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg.lr)
    name = "constant_with_warmup" if cfg.schedule == "constant" else cfg.schedule
    scheduler = get_scheduler(name, optimizer, num_warmup_steps=min(cfg.warmup_steps, total),
                              num_training_steps=total)
    return optimizer, scheduler


def _restore(s: Session) -> Progress:
    last = s.run.last_checkpoint()
    if last is None:
        return Progress()
    return load_checkpoint(last, s.model, s.optimizer, s.scheduler)


def _micro_batches(s: Session, progress: Progress) -> Iterator[list[int]]:
    """Endless stream of micro-batches from (epoch, index); advances ``progress`` as it goes."""
    lengths = [len(item[0]) for item in s.data.train]
    while True:
        plan = batch_plan(lengths, s.cfg.batch_size, s.cfg.seed, progress.epoch, s.cfg.group_by_length)
        while progress.index < len(plan):
            progress.index += 1
            yield plan[progress.index - 1]
        progress.epoch, progress.index = progress.epoch + 1, 0


def _run_steps(s: Session, progress: Progress, on_step: StepHook | None) -> None:
    from ils.train.progress import step_bar

    log = MetricsLog(s.run, progress.step) if s.accelerator.is_main_process else None
    stream = _micro_batches(s, progress)
    with step_bar(s.total_steps, progress.step, s.accelerator.is_main_process) as bar:
        while progress.step < s.total_steps and not _should_stop(s, progress):
            n = s.cfg.grad_accum * s.accelerator.num_processes
            metrics = _one_step(s, [next(stream) for _ in range(n)], progress.step)
            progress.step += 1
            _after_step(s, progress, metrics, log)
            bar(metrics)
            if on_step:
                on_step(progress.step, metrics)
    if log:
        log.close()


def _one_step(s: Session, batches: list[list[int]], step: int = 0) -> dict:
    """Forward/backward over the accumulated micro-batches, then one optimizer step.

    Under DDP each process takes every world-th micro-batch; losses are divided by the trained tokens
    of the whole step (all processes), times the world size because DDP averages gradients.
    """
    start = time.perf_counter()
    s.loss_fn.train()
    acc = s.accelerator
    items = [[s.data.train[i] for i in b] for b in batches]
    objective = acc.unwrap_model(s.loss_fn)
    n_trained = sum(objective.count(item[1]) for batch in items for item in batch)
    total_loss, tokens = 0.0, 0
    scale = acc.num_processes / n_trained
    mine = list(zip(batches, items))[acc.process_index::acc.num_processes]
    for i, (indices, batch) in enumerate(mine):
        inputs = objective.collate(batch, s.tok.pad_token_id)
        tokens += int(inputs["attention_mask"].sum())
        with acc.autocast():
            loss_sum, _ = s.loss_fn(**inputs)
            terms = s.extras.token_terms(objective, indices)  # LwF's KL on the trained tokens
            extra = s.method.regularizer(s.model) if i == 0 else None  # once per optimizer step
            extra = s.extras.step_terms(extra) if i == 0 else extra  # EWC's penalty
        loss = (loss_sum + terms) * scale
        acc.backward(loss if extra is None else loss + extra)
        s.extras.after_backward(lambda x=inputs: _loss_sum(s, x), acc.backward, scale)  # FGM/PGD
        total_loss += loss_sum.item()
    if s.cfg.max_grad_norm:
        acc.clip_grad_norm_(s.loss_fn.parameters(), s.cfg.max_grad_norm)
    s.optimizer.step()
    s.method.after_optimizer_step(s.model, step)
    s.scheduler.step()
    s.optimizer.zero_grad(set_to_none=True)
    if acc.num_processes > 1:
        total_loss = acc.reduce(torch.tensor(total_loss), "sum").item()
    elapsed = time.perf_counter() - start
    return {"loss": total_loss / n_trained, "lr": s.scheduler.get_last_lr()[0], "tokens": tokens,
            "tok_per_s": tokens / elapsed, **s.extras.metrics()}


def _loss_sum(s: Session, inputs: dict) -> torch.Tensor:
    with s.accelerator.autocast():
        return s.loss_fn(**inputs)[0]


def _after_step(s: Session, p: Progress, metrics: dict, log: MetricsLog | None) -> None:
    cfg = s.cfg
    if log and p.step % cfg.log_every == 0:
        log.log(p.step, epoch=p.epoch, **metrics)
    if s.data.validation and cfg.eval_every and (p.step % cfg.eval_every == 0 or p.step == s.total_steps):
        val = validation_loss(s)
        metrics["val_loss"] = val
        dev = s.data.dev_score(s.accelerator.unwrap_model(s.loss_fn).model) if s.data.dev_score else {}
        metrics.update(dev)
        if log:
            log.log(p.step, val_loss=val, **dev)
        if p.best_val is None or val < p.best_val:
            p.best_val, p.best_step, p.bad_evals = val, p.step, 0
            _save_best(s)
        else:
            p.bad_evals += 1
    if cfg.save_every and p.step % cfg.save_every == 0 and s.accelerator.is_main_process:
        save_checkpoint(s.run, p, s.model, s.optimizer, s.scheduler, cfg.keep_checkpoints)


def _save_best(s: Session) -> None:
    """The best-validation weights, kept on disk so a resumed run still ends with them."""
    if s.accelerator.is_main_process:
        with atomic_path(s.run.checkpoints / "best.safetensors") as tmp:
            save_file({k: v.contiguous() for k, v in trainable_state(s.model).items()}, tmp)


def _should_stop(s: Session, p: Progress) -> bool:
    return s.cfg.patience is not None and p.bad_evals >= s.cfg.patience


@torch.no_grad()
def validation_loss(s: Session) -> float:
    """Mean loss per response token over the whole validation set."""
    s.loss_fn.eval()
    lengths = [len(item[0]) for item in s.data.validation]
    objective = s.accelerator.unwrap_model(s.loss_fn)
    total, count = 0.0, 0
    for batch in batch_plan(lengths, s.cfg.batch_size * 2, 0, 0, True):
        inputs = objective.collate([s.data.validation[i] for i in batch], s.tok.pad_token_id)
        with s.accelerator.autocast():
            loss_sum, n = s.loss_fn(**inputs)
        total, count = total + loss_sum.item(), count + int(n)
    return total / max(count, 1)


def _finish(s: Session, p: Progress) -> None:
    """Keep the best-validation weights when validation ran, save in the method's format, plot
    (``train`` then scores the saved run, once this session is freed)."""
    if not s.accelerator.is_main_process:
        return
    if p.best_step is not None and p.best_step != p.step:
        load_trainable(s.model, load_file(s.run.checkpoints / "best.safetensors"))
    dest = s.run.root / s.method.folder
    with atomic_path(dest) as tmp:
        s.method.save(s.accelerator.unwrap_model(s.loss_fn).model, s.tok, tmp)
    plot_curves(s.run)
    _write_info(s.run, s.cfg, s.model, s.data, status="done", steps=p.step, best_step=p.best_step,
                checkpointed_blocks=s.checkpointed)


def _write_info(run: RunDir, cfg: TrainConfig, model: Any, data: TrainData, **extra: Any) -> None:
    from ils.models.sources import resolve

    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    folder = resolve(cfg.model)
    info = {"ils_version": __version__, "base_model": cfg.model, "base_folder": str(folder),
            "base_fingerprint": _base_fingerprint(folder), "dataset_fingerprint": data.fingerprint,
            "method": cfg.method, "head": data.head, "tasks": data.tasks, "trainable_params": trainable,
            "total_params": total, "train_records": len(data.train), **extra}
    write_json(run.info, info)


def _base_fingerprint(folder: Path) -> str:
    src = folder / "ils-source.json"
    if src.is_file():
        return json.loads(src.read_text())["key"]
    from ils.io import fingerprint

    weights = sorted(folder.glob("*.safetensors"))
    return fingerprint(weights[0]) if weights else ""
