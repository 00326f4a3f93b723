"""The Self-Instruct bootstrap loop: grow an instruction set from seed tasks, round by round.

A round samples in-context tasks (six human, two machine) into ``prompts_per_round`` prompts,
generates, parses the numbered lists, filters every candidate with a reason per drop (rules in
``filters``, near-duplicates in the incremental ``pool``), asks whether each survivor is
classification, generates its instances (input-first, or output-first for classification) and
keeps the task if some instances survive. Optional: Evol-Instruct rewrites of pool tasks, and code
tasks checked by running their tests (``codegen``). Kept tasks and drops are appended to
``OUT/work/*.jsonl`` as they come; a rerun on the same folder rebuilds the pool from them and
continues with the next round.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from ils.generate import codegen
from ils.generate.backends import Backend, Failed, GenerationError, Params
from ils.generate.filters import Limits, filter_instances, instruction_reason
from ils.generate.journal import Journal
from ils.generate.pool import InstructionPool, max_rouge
from ils.generate.prompts import (EVOL, Task, classify_prompt, evol_prompt, instance_prompt, instruction_prompt,
                                  parse_evolved, parse_instances, parse_instructions, parse_yes_no,
                                  sample_context)
from ils.data.rouge import match_masks, tokens


@dataclass
class SelfInstructConfig:
    n: int = 100  # stop once this many tasks are kept (in total, across reruns)
    prompts_per_round: int = 16
    n_human: int = 6
    n_machine: int = 2
    seed: int = 0
    threshold: float = 0.7  # ROUGE-L at or above this against the pool drops a candidate
    max_rounds: int | None = None
    time_limit: float | None = None  # seconds for this invocation
    patience: int = 10  # stop after this many rounds in a row that keep nothing
    evolve: float = 0.0  # fraction of extra prompts that rewrite a pool task (Evol-Instruct)
    code: bool = False  # generate code tasks (instruction, solution, tests) instead
    instruction_tokens: int = 160
    instance_tokens: int = 200
    temperature: float = 0.7
    top_p: float = 0.95
    limits: Limits = field(default_factory=Limits)


@dataclass
class State:
    seeds: list[Task]
    pool: InstructionPool
    kept: list[dict]
    work: Path
    round: int = 0
    seed_toks: list[list[str]] = field(default_factory=list)
    seed_masks: list[dict] = field(default_factory=list)

    @property
    def machine(self) -> list[str]:
        return [k["instruction"] for k in self.kept]


def self_instruct(seeds: list[Task], backend: Backend, out_dir: str | Path, cfg: SelfInstructConfig,
                  on_round: Callable[[dict], None] | None = None) -> State:
    """Run rounds until ``cfg.n`` tasks are kept (or a time/round/patience/budget limit); resumable."""
    state = load_state(seeds, Path(out_dir) / "work", cfg)
    start, idle = time.monotonic(), 0
    while len(state.kept) < cfg.n and not backend.exhausted:
        if cfg.max_rounds is not None and state.round >= cfg.max_rounds:
            break
        if cfg.time_limit is not None and time.monotonic() - start > cfg.time_limit:
            break
        summary = run_round(state, backend, cfg)
        if on_round:
            on_round(summary)
        idle = 0 if summary["kept"] else idle + 1
        if idle >= cfg.patience:
            break
    return state


def load_state(seeds: list[Task], work: Path, cfg: SelfInstructConfig) -> State:
    pool = InstructionPool(cfg.threshold)
    for s in seeds:
        pool.add(s.instruction)
    kept = Journal(work / "generated.jsonl").read()
    drops = Journal(work / "drops.jsonl").read()
    rounds = Journal(work / "rounds.jsonl").read()
    for rec in kept:
        pool.add(rec["instruction"])
    for d in drops:  # accepted into the pool, then dropped later: still "seen"
        if d.get("in_pool"):
            pool.add(d["instruction"])
    last = max([r["round"] for r in kept + drops + rounds] or [-1])
    st = State(seeds, pool, kept, work, last + 1)
    st.seed_toks = [tokens(s.instruction) for s in seeds]
    st.seed_masks = [match_masks(t) for t in st.seed_toks]
    return st


def run_round(st: State, backend: Backend, cfg: SelfInstructConfig) -> dict:
    r, rng = st.round, random.Random(f"{cfg.seed}:{st.round}")
    counts: dict[str, int] = {}

    def drop(text: str, reason: str, stage: str, in_pool: bool = False) -> None:
        counts[reason.split(" (")[0]] = counts.get(reason.split(" (")[0], 0) + 1
        Journal(st.work / "drops.jsonl").append({"round": r, "stage": stage, "instruction": text,
                                                 "reason": reason, "in_pool": in_pool})

    params = Params(cfg.instruction_tokens, cfg.temperature, cfg.top_p, cfg.seed * 100003 + r)
    if cfg.code:
        kept = _code_round(st, backend, cfg, rng, params, drop)
    else:
        cands = _candidates(st, backend, cfg, rng, params, drop)
        fresh = _filter(st, cands, cfg, drop)
        kept = _instances(st, backend, cfg, rng, fresh, drop)
    summary = {"round": r, "kept": kept, "dropped": counts, "pool": len(st.pool), "total_kept": len(st.kept)}
    Journal(st.work / "rounds.jsonl").append(summary)
    st.round += 1
    return summary


def _generate(backend: Backend, prompts: list[str], params: Params) -> list[str | Failed]:
    outs = backend.generate(prompts, params)
    if prompts and all(isinstance(o, Failed) for o in outs) and not backend.exhausted:
        raise GenerationError(f"{backend.name}: every request of this step failed: {outs[0].reason}; "
                              "what was generated before is saved, rerun to continue")
    return outs


def _candidates(st: State, backend: Backend, cfg: SelfInstructConfig, rng: random.Random, params: Params,
                drop: Callable) -> list[tuple[str, str]]:
    """(instruction, kind) pairs from the numbered lists and, optionally, Evol-Instruct rewrites."""
    human = [s.instruction for s in st.seeds]
    contexts = [sample_context(rng, human, st.machine, cfg.n_human, cfg.n_machine)
                for _ in range(cfg.prompts_per_round)]
    jobs = [(instruction_prompt(c), "self-instruct", len(c) + 1) for c in contexts]
    for _ in range(round(cfg.evolve * cfg.prompts_per_round)):
        op = rng.choice(sorted(EVOL))
        jobs.append((evol_prompt(rng.choice(human + st.machine), op), f"evolved:{op}", 0))
    outs = _generate(backend, [j[0] for j in jobs], params)
    cands = []
    for (_, kind, start), out in zip(jobs, outs):
        if isinstance(out, Failed):
            drop("", out.reason, "generate")
        elif start:
            cands += [(c, kind) for c in parse_instructions(out, start)]
        else:
            cands.append((parse_evolved(out), kind))
    return cands


def _filter(st: State, cands: list[tuple[str, str]], cfg: SelfInstructConfig,
            drop: Callable) -> list[tuple[str, str]]:
    fresh = []
    for text, kind in cands:
        why = instruction_reason(text, cfg.limits)
        if why is None:
            hit = st.pool.offer(text)
            why = None if hit is None else \
                f"near duplicate of the pool (ROUGE-L {hit.score:.2f} with '{hit.text[:60]}')"
        if why:
            drop(text, why, "filter")
        else:
            fresh.append((text, kind))
    return fresh


def _instances(st: State, backend: Backend, cfg: SelfInstructConfig, rng: random.Random,
               fresh: list[tuple[str, str]], drop: Callable) -> int:
    if not fresh:
        return 0
    cls_shots = _shots(st.seeds, rng, True, 3) + _shots(st.seeds, rng, False, 3)
    rng.shuffle(cls_shots)
    answers = _generate(backend, [classify_prompt(t, cls_shots) for t, _ in fresh], Params(3, 0.0, 1.0, 0))
    is_cls = [isinstance(a, str) and parse_yes_no(a) is True for a in answers]
    prompts = [instance_prompt(t, c, _shots(st.seeds, rng, c, 2)) for (t, _), c in zip(fresh, is_cls)]
    outs = _generate(backend, prompts, Params(cfg.instance_tokens, cfg.temperature, cfg.top_p, st.round))
    kept = 0
    for (text, kind), c, out in zip(fresh, is_cls, outs):
        if isinstance(out, Failed):
            drop(text, out.reason, "instances", True)
            continue
        pairs, reasons = filter_instances(parse_instances(out, c), cfg.limits)
        if not pairs:
            drop(text, "no valid instances" + (f" ({'; '.join(sorted(set(reasons)))})" if reasons else ""),
                 "instances", True)
            continue
        _keep(st, {"instruction": text, "instances": [{"input": i, "output": o} for i, o in pairs],
                   "is_classification": c, "kind": kind, "instance_drops": reasons})
        kept += 1
    return kept


def _shots(seeds: list[Task], rng: random.Random, classification: bool, k: int) -> list[Task]:
    group = [s for s in seeds if s.is_classification == classification] or seeds
    return rng.sample(group, min(k, len(group)))


def _keep(st: State, rec: dict) -> None:
    score, j = max_rouge(rec["instruction"], st.seed_toks, st.seed_masks)
    rec = {"id": f"si-{st.round:05d}-{len(st.kept):06d}", "round": st.round, **rec,
           "max_rouge_seed": round(score, 4), "most_similar_seed": st.seeds[j].instruction if j >= 0 else ""}
    Journal(st.work / "generated.jsonl").append(rec)
    st.kept.append(rec)


def _code_round(st: State, backend: Backend, cfg: SelfInstructConfig, rng: random.Random, params: Params,
                drop: Callable) -> int:
    machine = [codegen.CodeTask(k["instruction"], k["solution"], k["tests"]) for k in st.kept if "solution" in k]
    prompts = [codegen.code_prompt(rng, machine) for _ in range(cfg.prompts_per_round)]
    outs = _generate(backend, prompts, replace(params, max_tokens=max(cfg.instruction_tokens, 320)))
    kept = 0
    for out in outs:
        task = codegen.parse_code(out) if isinstance(out, str) else out.reason
        if isinstance(task, str):
            drop("", task, "generate")
            continue
        why = instruction_reason(task.instruction, cfg.limits)
        hit = None if why else st.pool.offer(task.instruction)
        if why or hit:
            drop(task.instruction, why or f"near duplicate of the pool (ROUGE-L {hit.score:.2f})", "filter")
            continue
        why = codegen.check(task)
        if why:
            drop(task.instruction, why, "code", True)
            continue
        answer = f"```python\n{task.solution}\n```"
        _keep(st, {"instruction": task.instruction, "instances": [{"input": "", "output": answer}],
                   "is_classification": False, "kind": "code", "solution": task.solution, "tests": task.tests})
        kept += 1
    return kept

