"""``ils data build``: raw task data → a dataset folder (train/validation/test JSONL, manifest, report).

Stages, in order: read + render (seeded template per record) → normalize → validate → exact dedup
→ near dedup → decontaminate → split (stratified, grouped) → held-out templates for test → mix →
write. Bad records stop the build with ``file:line: field: reason`` unless ``skip_invalid``; then
they, like every duplicate and contaminated record, are dropped with their reason in the manifest.
The folder is written to a temp path and renamed, so a failed build leaves nothing behind.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ils.data import report
from ils.data.config import SPLITS, BuildConfig, SourceConfig, config_line, load_config
from ils.data.decontaminate import build_index
from ils.data.dedup import NearDupConfig, exact_duplicates, near_duplicates
from ils.data.mix import reweight
from ils.data.normalize import clean
from ils.data.progress import track
from ils.data.render import make_example
from ils.data.split import assign_splits
from ils.dataset import write_dataset
from ils.errors import ConfigError, DataError, RecordError
from ils.records import Example, Message, read_examples, to_record_error
from ils.tasks import TASKS
from ils.tasks.base import RawRecord, Task
from ils.tasks.templates import Template, choose
from ils.tasks.user import load_user_tasks


SKIP_HINT = ("(to build without these records, pass --skip-invalid: each is dropped and listed with its "
             "reason in manifest.json)")


@dataclass
class Item:
    """One record on its way through the pipeline: the Example and what made it."""

    ex: Example
    raw: RawRecord
    task: Task
    source: int
    split: str = ""


@dataclass
class Log:
    """Counts per stage, every drop with its reason, and the errors that stop a strict build."""

    stages: list[dict] = field(default_factory=list)
    drops: list[dict] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)
    show: bool = True

    def stage(self, name: str, before: int, after: int, **extra: Any) -> None:
        self.stages.append({"stage": name, "in": before, "out": after, "dropped": before - after, **extra})

    def drop(self, stage: str, where: str, reason: str, ex_id: str | None = None, kind: str = "") -> None:
        self.drops.append({"stage": stage, "kind": kind or reason, "source": where, "id": ex_id,
                           "reason": reason})


def build_dataset(config: str | Path | BuildConfig | dict, out_dir: str | Path,
                  skip_invalid: bool = False, progress: bool = True) -> Path:
    """Build the dataset folder ``out_dir`` from a config; returns its path."""
    cfg, cfg_path = load_config(config)
    tasks = _resolve_tasks(cfg, cfg_path)
    log = Log(show=progress)
    items = read_sources(cfg, tasks, log, skip_invalid)
    for stage in (drop_exact, drop_near, drop_contaminated):
        items = stage(items, cfg, log)
    splits = make_splits(items, cfg, log)
    return _write(Path(out_dir), splits, cfg, log)


def check_build(config: str | Path) -> BuildConfig:
    """Everything a build checks before reading data: fields, task names and options, templates, files."""
    cfg, cfg_path = load_config(config)
    _resolve_tasks(cfg, cfg_path)
    for i, src in enumerate([*cfg.sources, *cfg.eval_sets]):
        if not Path(src.path).is_file():
            raise ConfigError(f"{src.path}: not found (a source or eval_sets path of {config})")
    return cfg


def _resolve_tasks(cfg: BuildConfig, cfg_path: Path | None) -> list[Task]:
    """The configured task of every source; an unknown name points at its config line."""
    load_user_tasks(cfg.task_dirs)
    text = cfg_path.read_text(encoding="utf-8") if cfg_path else ""
    out = []
    for i, src in enumerate(cfg.sources):
        if src.task not in TASKS:
            where = config_line(cfg_path, text, ("sources", i, "task"))
            raise ConfigError(f"{where}: sources.{i}.task: unknown task '{src.task}'; "
                              f"known: {', '.join(TASKS.names())}")
        out.append(_configured(TASKS.get(src.task), src.options, ("sources", i), cfg_path, text))
    for i, ev in enumerate(cfg.eval_sets):
        if ev.task is not None:
            _configured(TASKS.get(ev.task), ev.options, ("eval_sets", i), cfg_path, text)
    for task_name, names in cfg.heldout_templates.items():
        for name in names:
            _template_or_error(TASKS.get(task_name), name, f"heldout_templates.{task_name}")
    return out


def _configured(task: Task, options: dict, loc: tuple, cfg_path: Path | None, text: str) -> Task:
    """The task with a source's options; an option the task does not read is refused (a typo would
    otherwise be ignored silently), listing the ones it reads (docs/tasks.md has each)."""
    unknown = sorted(set(options) - task.known_options())
    if unknown:
        where = config_line(cfg_path, text, (*loc, "options", unknown[0]))
        raise ConfigError(f"{where}: {'.'.join(map(str, loc))}.options.{unknown[0]}: task '{task.name}' has "
                          f"no such option; its options: {', '.join(sorted(task.known_options()))} "
                          "(docs/tasks.md, or `ils data tasks " + task.name + "`)")
    return task.configure(**options)


def _template_or_error(task: Task, name: str, where: str) -> Template:
    try:
        return task.template(name)
    except KeyError as e:
        raise ConfigError(f"{where}: {e.args[0]}") from None


# ------------------------------------------------------------------ read, render, normalize, validate

def read_sources(cfg: BuildConfig, tasks: list[Task], log: Log, skip_invalid: bool) -> list[Item]:
    items: list[Item] = []
    for i, (src, task) in enumerate(zip(cfg.sources, tasks)):
        items += _read_source(i, src, task, cfg, log, skip_invalid)
    if log.errors and (not skip_invalid or not items):
        hint = "" if skip_invalid else SKIP_HINT
        raise DataError(log.errors, hint=hint)  # with --skip-invalid too when nothing valid is left
    if not items:
        raise ConfigError("the sources hold no records")
    return items


def _read_source(i: int, src: SourceConfig, task: Task, cfg: BuildConfig, log: Log,
                 skip_invalid: bool = False) -> list[Item]:
    """The records of one source; reading stops at ``limit`` records (valid ones with ``skip_invalid``,
    where bad records are dropped; any record otherwise, as a bad one stops the build anyway)."""
    name = src.name or f"{src.task}-{Path(src.path).stem}"
    pool = _train_templates(task, src, cfg)
    items, seen, bad = [], 0, 0
    for rec in track(task.read(src.path), f"reading {name}", show=log.show):
        if src.limit is not None and (len(items) if skip_invalid else seen) >= src.limit:
            break
        seen += 1
        ex_id = f"{name}-{seen:06d}"
        made = rec if isinstance(rec, RecordError) else \
            _render(task, choose(pool, cfg.seed, ex_id), rec, ex_id)
        if isinstance(made, RecordError):
            bad += 1
            log.errors.append(made)
            log.drop("validate", made.location(), f"{made.field}: {made.reason}", ex_id, made.field)
        else:
            items.append(Item(made, rec, task, i))  # type: ignore[arg-type]
    log.stage(f"read {name}", seen, len(items), invalid=bad)
    return items


def _train_templates(task: Task, src: SourceConfig, cfg: BuildConfig) -> list[Template]:
    held = set(cfg.heldout_templates.get(task.name, ()))
    names = src.templates or [t.name for t in task.templates if src.inverted or not t.inverted]
    pool = [_template_or_error(task, n, f"{src.path}: templates") for n in names if n not in held]
    if not pool:
        raise ConfigError(f"{src.path}: every template of task '{task.name}' is held out")
    return pool


def _render(task: Task, tpl: Template, rec: RawRecord, ex_id: str) -> Example | RecordError:
    """Render, check and normalize one record; a problem comes back as its RecordError."""
    try:
        ex = make_example(task, tpl, rec, ex_id)
        # Checked before normalizing: this tests template and parser; gold answers stay as given.
        if not tpl.inverted and not task.roundtrip(ex.response, rec.fields):
            return RecordError(rec.where, None, "output", f"template '{tpl.name}': the reference "
                               "output does not parse back to the gold answer")
        msgs = tuple(Message(role=m.role, content=clean(m.content)) for m in ex.messages)
        return Example.model_validate({**ex.model_dump(), "messages": [m.model_dump() for m in msgs]})
    except RecordError as e:
        return e
    except ValidationError as e:  # normalizing may leave a turn empty
        return to_record_error(rec.where, None, e)


# ------------------------------------------------------------------ dedup, decontaminate

def _key(item: Item) -> str:
    return f"{item.task.name}\x00{item.task.dedup_scope(item.raw.fields)}"


def drop_exact(items: list[Item], cfg: BuildConfig, log: Log) -> list[Item]:
    if not cfg.dedup.exact:
        return items
    keys = [f"{_key(it)}\x00{it.task.dedup_text(it.raw.fields)}\x00{it.ex.response}" for it in items]
    dups = exact_duplicates(keys)
    for i, first in dups.items():
        log.drop("exact_dedup", items[i].ex.source or "", f"exact duplicate of {items[first].ex.id}",
                 items[i].ex.id, "exact duplicate")
    kept = [it for i, it in enumerate(items) if i not in dups]
    log.stage("exact dedup", len(items), len(kept))
    return kept


def drop_near(items: list[Item], cfg: BuildConfig, log: Log) -> list[Item]:
    if not cfg.dedup.near:
        return items
    d = cfg.dedup
    ncfg = NearDupConfig(rouge_l=d.rouge_l, long_chars=d.long_chars, short_threshold=d.short_threshold,
                         long_threshold=d.long_threshold, num_perm=d.num_perm, seed=cfg.seed + 1)
    texts = [it.task.dedup_text(it.raw.fields) for it in items]
    dups = near_duplicates(texts, [_key(it) for it in items], ncfg,
                           progress=lambda r: track(r, "near-duplicates", show=log.show))
    for i, (first, score) in dups.items():
        log.drop("near_dedup", items[i].ex.source or "",
                 f"near duplicate of {items[first].ex.id} (ROUGE-L {score:.2f})", items[i].ex.id,
                 "near duplicate")
    kept = [it for i, it in enumerate(items) if i not in dups]
    log.stage("near dedup", len(items), len(kept))
    return kept


def drop_contaminated(items: list[Item], cfg: BuildConfig, log: Log) -> list[Item]:
    if not cfg.eval_sets:
        return items
    index = build_index(_eval_texts(cfg), cfg.decontaminate.ngram)
    kept = []
    for it in track(items, "decontaminating", show=log.show):
        hit = index.match(it.task.input_text(it.raw.fields))
        if hit is None:
            kept.append(it)
        else:
            log.drop("decontaminate", it.ex.source or "", f"shares '{hit}' with an evaluation set", it.ex.id,
                     "overlaps an evaluation set")
    log.stage("decontaminate", len(items), len(kept), eval_sets=[e.path for e in cfg.eval_sets])
    return kept


def _eval_texts(cfg: BuildConfig) -> list[str]:
    texts: list[str] = []
    for ev in cfg.eval_sets:
        if ev.task is None:
            texts += [ex.instruction for ex in read_examples(ev.path, skip_invalid=True).examples]
            continue
        task = TASKS.get(ev.task).configure(**ev.options)
        texts += [task.input_text(r.fields) for r in task.read(ev.path) if isinstance(r, RawRecord)]
    return texts


# ------------------------------------------------------------------ split, held-out templates, mix

def make_splits(items: list[Item], cfg: BuildConfig, log: Log) -> dict[str, list[Item]]:
    free = [it for it in items if cfg.sources[it.source].split is None]
    groups = [f"{it.source}:{it.raw.group or it.ex.id}" for it in free]
    # Each source is split on its own, so every source keeps the configured fractions.
    labels = [f"{it.source}\x00{it.task.label_of(it.raw.fields) or ''}" for it in free]
    for it, split in zip(free, assign_splits(groups, labels, cfg.splits.model_dump(), cfg.seed)):
        it.split = split
    for it in items:
        it.split = cfg.sources[it.source].split or it.split
    out = {s: [it for it in items if it.split == s] for s in SPLITS}
    out["test"] = [_heldout(it, cfg) for it in out["test"]]
    log.stage("split", len(items), len(items), **{s: len(v) for s, v in out.items()})
    mixed = _mix(out["train"], cfg)
    log.stages.append({"stage": "mix (train)", "in": len(out["train"]), "out": len(mixed),
                       "dropped": max(0, len(out["train"]) - len(mixed))})
    out["train"] = mixed
    return out


def _heldout(item: Item, cfg: BuildConfig) -> Item:
    """A test record is re-rendered with a held-out template when its task reserves some."""
    names = cfg.heldout_templates.get(item.task.name)
    if not names:
        return item
    tpl = choose([item.task.template(n) for n in names], cfg.seed, item.ex.id or "")
    made = _render(item.task, tpl, item.raw, item.ex.id or "")
    if isinstance(made, RecordError):
        raise made
    return Item(made, item.raw, item.task, item.source, item.split)


def _mix(train: list[Item], cfg: BuildConfig) -> list[Item]:
    if all(s.weight == 1 for s in cfg.sources):
        return train
    rng = random.Random(cfg.seed)
    by_source: dict[int, list[Item]] = defaultdict(list)
    for it in train:
        by_source[it.source].append(it)
    mixed = [x for i in sorted(by_source) for x in reweight(by_source[i], cfg.sources[i].weight, rng)]
    rng.shuffle(mixed)
    return mixed


# ------------------------------------------------------------------ write

def _write(out: Path, splits: dict[str, list[Item]], cfg: BuildConfig, log: Log) -> Path:
    records = {name: [it.ex for it in items] for name, items in splits.items()}
    write_dataset(out, records, "build", drops=log.drops, extra=report.extra(splits, cfg, log),
                  sections=report.sections)
    return out
