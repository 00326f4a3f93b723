"""Plans as data: a DAG of steps, each a prompt template, a model or adapter, and what it reads.

A step is ``map`` (its prompt runs on every chunk of the input, batched), ``reduce`` (combines one
map step's partial answers: exactly in code for structured kinds, by a tree of model calls for
text), ``refine`` (a running answer updated chunk by chunk, for order-dependent inputs) or ``call``
(one prompt over earlier outputs, or over the whole input when it fits). Templates name what they
read as ``{{chunk}}``, ``{{answer}}`` (refine), ``{{partials}}`` (text reduce), ``{{instruction}}``,
``{{input}}`` or ``{{STEP}}``. ``check_plan`` rejects cycles, unknown references and unknown
models before any model runs. Built-in plans: ``single``, ``map_reduce``, ``refine``, ``chain``.

A map step of an extractive kind is grounded by default (``ground``; see ``ils.infer.ground``):
set ``ground: false`` for abstractive questions whose answer need not be quoted from the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ils.errors import ConfigError, PlanError
from ils.infer.ground import GROUNDABLE
from ils.infer.reducers import HINTS
from ils.io import read_yaml
from ils.registry import Registry

REF = re.compile(r"\{\{\s*([\w-]+)\s*\}\}")
BUILTIN_REFS = {"chunk", "answer", "partials", "instruction", "input"}
Kind = Literal["text", "value", "label", "span", "number", "list"]


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    kind: Literal["map", "reduce", "refine", "call"] = "call"
    prompt: str = ""
    reads: list[str] = Field(default_factory=list, description="steps (or 'input') read besides template refs")
    model: str = Field("default", description="model or adapter name given to the run")
    answer: Kind = "text"
    max_new_tokens: int = 64
    ground: bool | None = Field(None, description="map answers count only if found in their chunk "
                                "(default: on for value, label, span and list)")

    def grounds(self) -> bool:
        """Whether answers must occur in the text they came from: map steps, and calls over the input."""
        text = self.kind == "map" or (self.kind == "call" and "input" in self.refs())
        return text and (self.ground if self.ground is not None else self.answer in GROUNDABLE)

    def refs(self) -> set[str]:
        return set(REF.findall(self.prompt))

    def needs(self) -> set[str]:
        """Steps (and 'input') this step depends on."""
        deps = (self.refs() - (BUILTIN_REFS - {"input"})) | set(self.reads)
        return deps | ({"input"} if self.kind in ("map", "refine") else set())


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instruction: str = ""
    steps: list[Step]
    output: str | None = Field(None, description="the step whose answer is the result (default: last)")
    chunk_tokens: int | None = None
    overlap: int | None = None

    @property
    def final(self) -> str:
        return self.output or self.steps[-1].name

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)


def fill(template: str, values: dict[str, str]) -> str:
    """Substitute ``{{name}}`` refs (no other brace syntax, so user text may hold braces)."""
    return REF.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def check_plan(plan: Plan, models: set[str]) -> list[list[str]]:
    """Validate a plan; return its steps in levels (a level's steps depend only on earlier levels)."""
    if not plan.steps:
        raise PlanError("plan: steps: a plan needs at least one step")
    names = [s.name for s in plan.steps]
    for i, s in enumerate(plan.steps):
        _check_step(plan, i, s, names, models)
    if plan.output is not None and plan.output not in names:
        raise PlanError(f"plan: output: unknown step '{plan.output}'; steps: {', '.join(names)}")
    return _levels(plan)


def _check_step(plan: Plan, i: int, s: Step, names: list[str], models: set[str]) -> None:
    where = f"plan: steps[{i}] ({s.name})"
    if names.count(s.name) > 1 or s.name in BUILTIN_REFS:
        raise PlanError(f"{where}: name: duplicate or reserved step name '{s.name}'")
    for ref in sorted(s.needs() - {"input"}):
        if ref not in names:
            raise PlanError(f"{where}: reads: unknown step '{ref}'; steps: {', '.join(names)}")
    if s.model not in models and s.model != "route":
        raise PlanError(f"{where}: model: unknown model or adapter '{s.model}'; given: {', '.join(sorted(models))}")
    if s.kind in ("map", "refine") and "chunk" not in s.refs():
        raise PlanError(f"{where}: prompt: a {s.kind} step's prompt must contain {{{{chunk}}}}")
    if s.kind == "reduce":
        _check_reduce(plan, where, s)
    if s.ground:
        _check_ground(where, s)


def _check_ground(where: str, s: Step) -> None:
    if s.kind != "map" and not (s.kind == "call" and "input" in s.refs()):
        raise PlanError(f"{where}: ground: only answers read from the input are grounded: map steps and "
                        f"calls over {{{{input}}}} (this is a {s.kind} step)")
    if s.answer not in GROUNDABLE:
        why = "a count is not quoted from the text" if s.answer == "number" else "free text is not quoted"
        raise PlanError(f"{where}: ground: answer kind '{s.answer}' cannot be grounded ({why}); "
                        f"use one of {', '.join(GROUNDABLE)} or drop ground")


def _check_reduce(plan: Plan, where: str, s: Step) -> None:
    deps = sorted(s.needs() - {"input"})
    if len(deps) != 1 or plan.step(deps[0]).kind != "map":
        raise PlanError(f"{where}: reads: a reduce step reads exactly one map step, got {deps}")
    if plan.step(deps[0]).answer != s.answer:
        raise PlanError(f"{where}: answer: '{s.answer}' differs from its map step's '{plan.step(deps[0]).answer}'")
    if s.answer == "text" and "partials" not in s.refs():
        raise PlanError(f"{where}: prompt: a text reduce step's prompt must contain {{{{partials}}}}")


def _levels(plan: Plan) -> list[list[str]]:
    deps = {s.name: s.needs() - {"input"} for s in plan.steps}
    done: set[str] = set()
    levels = []
    while len(done) < len(deps):
        ready = [n for n in deps if n not in done and deps[n] <= done]
        if not ready:
            stuck = sorted(n for n in deps if n not in done)
            raise PlanError(f"plan: steps: cycle among {', '.join(stuck)}")
        levels.append(ready)
        done |= set(ready)
    return levels


def load_plan(path: str | Path) -> Plan:
    path = Path(path)
    if not path.is_file():
        raise PlanError(f"{path}: plan file not found")
    try:
        return Plan.model_validate(read_yaml(path) or {})
    except ConfigError as e:
        raise PlanError(str(e)) from None
    except ValidationError as e:
        lines = [f"{path}: {'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()]
        raise PlanError("\n".join(lines)) from None


def single(instruction: str, answer: Kind = "text", model: str = "default") -> Plan:
    """The whole input in one prompt (when it fits the context). Its step was named ``answer``, a
    reserved name that ``check_plan`` refused, so ``--plan single`` (and ``auto`` on a short input) failed."""
    hint = "" if answer == "text" else " " + HINTS[answer]
    return Plan(instruction=instruction, steps=[
        Step(name="whole", prompt="{{input}}\n\n{{instruction}}" + hint, model=model, answer=answer)])


def map_reduce(instruction: str, answer: Kind = "text", model: str = "default") -> Plan:
    """Ask every chunk, then combine: exactly for structured answers, by a model tree for text.
    The chunk comes first so that several questions over one input share each chunk's prefill
    through the engine's prefix cache (the instruction first would share only its own few tokens)."""
    hint = HINTS[answer] if answer != "text" else "If the text does not help, answer NONE."
    reduce_prompt = "" if answer != "text" else (
        "Partial answers from parts of a long document:\n{{partials}}\n\n"
        "Combine them into one answer to: {{instruction}}")
    return Plan(instruction=instruction, steps=[
        Step(name="map", kind="map", prompt="{{chunk}}\n\n{{instruction}} " + hint, model=model, answer=answer,
             max_new_tokens=32 if answer in ("value", "number", "label", "span") else 64),
        Step(name="reduce", kind="reduce", reads=["map"], prompt=reduce_prompt, model=model, answer=answer)])


def refine(instruction: str, answer: Kind = "text", model: str = "default") -> Plan:
    """A running answer, updated chunk by chunk in order."""
    prompt = ("Answer so far: {{answer}}\n\nNext part of the text:\n{{chunk}}\n\n{{instruction}}\n"
              "Update the answer so far with this part; reply with the updated answer only.")
    return Plan(instruction=instruction, steps=[
        Step(name="refine", kind="refine", prompt=prompt, model=model, answer=answer)])


NUMBERED = re.compile(r"(?m)^\s*(?=\d+[.)]\s)")


def chain(instruction: str, count: Callable[[str], int], budget: int, model: str = "default",
          with_input: bool = True) -> Plan:
    """A procedure too long for one prompt → groups of its numbered steps, each carrying the state."""
    parts = [p.strip() for p in NUMBERED.split(instruction) if p.strip()]
    groups, current = [], ""
    for part in parts:
        if current and count(current + "\n" + part) > budget:
            groups.append(current)
            current = part
        else:
            current = f"{current}\n{part}".strip()
    groups.append(current)
    steps = []
    for i, group in enumerate(groups):
        state = "{{input}}" if i == 0 and with_input else f"{{{{part{i - 1}}}}}" if i else "(none)"
        steps.append(Step(name=f"part{i}", model=model, prompt=(
            f"State so far:\n{state}\n\nCarry out these steps of a longer procedure:\n{group}\n\n"
            "Reply with the resulting state only."), max_new_tokens=256))
    return Plan(instruction=instruction, steps=steps)


# builders of the built-in plans; a plugin adds its own under the entry-point group ``ils.plans``
# (a callable ``(instruction, answer, model) -> Plan`` with a ``name``), used as ``ils run --plan NAME``
PLANS: Registry[Callable[[str, str, str], Plan]] = Registry("plan")
PLANS.add(map_reduce, "map-reduce")
PLANS.add(refine, "refine")
PLANS.add(single, "single")
