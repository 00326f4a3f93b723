"""``ils run``: an instruction over an input of any length, with a built-in plan or a PLAN.yaml.

    from ils.infer.longrun import run
    result = run("What is the pass key?", "big.txt", plan="map-reduce", answer="value", out="out/")

The plan is checked (cycles, references, model names) and the input checked (exists, text, not
empty) before any model is loaded; a survey pass counts chunks and calls before any model runs.
A run that finds nothing is an answer too: ``answer`` null, ``found`` false and a ``reason``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ils.errors import ILSError, PlanError
from ils.infer.execute import Runner
from ils.infer.ground import GROUNDABLE
from ils.infer.long import check_input, iter_units, read_blocks, spool_stdin
from ils.infer.plans import PLANS, Plan, chain, check_plan, load_plan, map_reduce, single
from ils.infer.protocol import Engine
from ils.infer.reducers import KINDS, render
from ils.io import write_json, write_text

LONG_INSTRUCTION = 4  # an instruction over context/4 tokens is run as a chain of parts
NO_ANSWER = "no answer found"


def resolve_plan(plan: str | Plan, instruction: str, answer: str, model: str = "default") -> Plan:
    """``auto``/``map-reduce``/``refine``/``single`` or a PLAN.yaml path → a Plan."""
    if isinstance(plan, Plan):
        return plan
    if answer not in KINDS:
        raise PlanError(f"--answer: unknown answer kind '{answer}'; use one of {', '.join(KINDS)}")
    if plan == "auto":
        return map_reduce(instruction, answer, model)
    if plan in PLANS:
        return PLANS.get(plan)(instruction, answer, model)
    if plan.endswith((".yaml", ".yml")) or Path(plan).is_file():
        loaded = load_plan(plan)
        return loaded.model_copy(update={"instruction": loaded.instruction or instruction})
    raise PlanError(f"unknown plan '{plan}'; use auto, {', '.join(PLANS.names())} or a PLAN.yaml file")


def set_ground(plan: Plan, ground: bool | None) -> Plan:
    """``--ground/--no-ground``: every step that reads the input is (or is not) grounded."""
    if ground is None:
        return plan
    steps = [s.model_copy(update={"ground": ground}) if s.kind in ("map", "call") else s for s in plan.steps]
    if ground:
        bad = [s for s in steps if s.grounds() and s.answer not in GROUNDABLE]
        if bad:
            raise PlanError(f"--ground: step '{bad[0].name}' answers '{bad[0].answer}', which cannot be grounded "
                            f"(only {', '.join(GROUNDABLE)} are copied from the text); drop --ground")
        steps = [s if s.grounds() else s.model_copy(update={"ground": None}) for s in steps]
    return plan.model_copy(update={"steps": steps})


def parse_models(model: str, adapters: list[str]) -> dict[str, str]:
    """``--model`` and ``--adapter NAME=RUN_DIR`` options → the plan's model table."""
    models = {"default": model}
    for item in adapters:
        name, eq, ref = item.partition("=")
        if not eq or not name or not ref:
            raise PlanError(f"--adapter {item!r}: expected NAME=RUN_DIR")
        models[name] = ref
    return models


def load_engines(models: dict[str, str | Engine], batch_size: int = 64, dtype: str = "auto",
                 engine: str = "hf") -> dict[str, Engine]:
    """Model names → engines; each distinct reference is loaded once."""
    loaded: dict[str, Engine] = {}
    by_ref: dict[str, Engine] = {}
    for name, ref in models.items():
        if isinstance(ref, Engine):
            loaded[name] = ref
            continue
        if ref not in by_ref:
            by_ref[ref] = Engine.load(ref, batch_size, dtype, engine)
        loaded[name] = by_ref[ref]
    return loaded


def check_models(models: dict[str, str | Engine]) -> None:
    """Every model reference exists (a run folder, a model folder, a .gguf or a source name)."""
    from ils.models.loading import is_run_folder
    from ils.models.sources import source_kind

    for name, ref in models.items():
        if isinstance(ref, Engine) or is_run_folder(ref):
            continue
        if Path(ref).is_dir() and not (Path(ref) / "config.json").is_file():
            raise PlanError(f"model '{name}': {ref}: a folder that is neither a run (ils.json) nor a model "
                            "(config.json)")
        try:
            source_kind(str(ref))
        except ILSError as e:
            raise PlanError(f"model '{name}': {ref}: not a run folder or a model ({e})") from None


def run(instruction: str, input: str | Path, plan: str | Plan = "auto", answer: str = "text",
        models: dict[str, str | Engine] | None = None, out: str | Path = "ils-run",
        chunk_tokens: int | None = None, overlap: int | None = None, dry_run: bool = False,
        progress: bool = False, batch_size: int = 64, dtype: str = "auto", engine: str = "hf",
        ground: bool | None = None) -> dict[str, Any]:
    """Run ``instruction`` over ``input`` (a file, or ``-`` for stdin); returns the result record.
    ``ground`` overrides every input-reading step's ``ground`` (None: each step's own or its kind's default)."""
    out = Path(out)
    models = models or {"default": "default"}
    spec = set_ground(resolve_plan(plan, instruction, answer), ground)
    check_plan(spec, set(models))
    if engine == "hf":
        check_models(models)  # other engines name files or served models this check does not know
    path = spool_stdin(out / "input.txt") if str(input) == "-" else Path(input)
    check_input(path)
    engines = load_engines(models, batch_size, dtype, engine)
    if plan == "auto":
        spec = set_ground(_auto(spec, instruction, answer, engines["default"], path), ground)
    runner = Runner(spec, engines, path, out, chunk_tokens, overlap, batch_size)
    survey = runner.survey()
    if dry_run:
        return {"dry_run": True, "plan": runner.plan.model_dump(), **survey}
    result = _execute(runner, survey, progress)
    write_json(out / "result.json", result)
    write_text(out / "answer.txt", result["answer_text"] + "\n")
    return result


def _auto(spec: Plan, instruction: str, answer: str, engine: Engine, path: Path) -> Plan:
    """Whole input in one prompt when it fits; a chain when the instruction itself is too long."""
    count, context = engine.count_tokens, engine.context
    n, part = count(instruction), context // LONG_INSTRUCTION
    if n > part:
        if not _fits(path, count, context - part - 300):
            raise PlanError("both the instruction and the input are too long for one prompt; "
                            "write a PLAN.yaml that maps the input before the procedure")
        return chain(instruction, count, context // LONG_INSTRUCTION)
    return single(instruction, answer) if _fits(path, count, context - n - 300) else spec


def _fits(path: Path, count, room: int) -> bool:
    """Whether the input has at most ``room`` tokens (stops reading as soon as it has more)."""
    total = 0
    for unit in iter_units(read_blocks(path), max_chars=max(room, 1) * 8):
        total += count(unit)
        if total > room:
            return False
    return True


def _execute(runner: Runner, survey: dict, progress: bool) -> dict[str, Any]:
    if progress:
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("model calls", total=survey["total_calls"] or None)
            runner.on_calls = lambda n: bar.update(task, advance=n)
            value = runner.run()
    else:
        value = runner.run()
    final = runner.plan.step(runner.plan.final)
    found = value is not None and value != []
    st = runner.stats
    return {"answer": value, "answer_text": render(final.answer, value) if found else NO_ANSWER,
            "found": found, "reason": None if found else runner.ledger.why_none(final.name),
            "outputs": {s.name: runner.results.get(s.name) for s in runner.plan.steps if s.kind != "map"},
            "plan": runner.plan.model_dump(),
            "chunks": survey["chunks"], "tokens": survey["tokens"], "chunk_tokens": survey["chunk_tokens"],
            "overlap": survey["overlap"], "calls": st.calls, "cached_calls": st.cached, "scored": st.scored, "retries": st.retries,
            "reduce_depth": st.reduce_depth, "errors": st.errors, **runner.ledger.report(),
            "engine": {name: e.stats() for name, e in runner.engines.items()}}
