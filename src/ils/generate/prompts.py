"""Seed tasks, the prompts of Self-Instruct (and Evol-Instruct operators), and their parsers.

Prompts are the paper's completion-style texts: eight numbered tasks (six human, two machine,
sampled with a seeded RNG) and an open "9." for the model to continue; a yes/no few-shot prompt
asking whether a task is classification; and an instance prompt that is input-first for
generation tasks and output-first (class label, then input) for classification, so that a model
does not produce inputs of only one class. Parsers are lenient: what they cannot read becomes a
drop with a reason downstream, never an exception.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from ils.errors import DataError, RecordError
from ils.io import parse_json, text_lines
from ils.records import read_examples


@dataclass
class Task:
    instruction: str
    instances: list[tuple[str, str]] = field(default_factory=list)
    is_classification: bool = False
    source: str = ""


# ---------------------------------------------------------------- seeds

def load_seeds(path: str | Path) -> tuple[list[Task], list[RecordError]]:
    """Seed tasks from the Self-Instruct ``seed_tasks.jsonl`` layout or any Example file.

    Bad records come back as errors (file:line: field: reason); none valid raises DataError.
    """
    path = Path(path)
    if not path.is_file():
        raise RecordError(str(path), None, "file", "not found")
    if path.suffix == ".jsonl" and _is_seed_layout(path):
        seeds, errors = _read_seed_layout(path)
    else:
        res = read_examples(path, skip_invalid=True)
        seeds = [Task(ex.instruction if not ex.meta.get("input") else _strip_input(ex),
                      [(ex.meta.get("input", ""), ex.response)], False, ex.source or "") for ex in res.examples]
        errors = res.errors
    if not seeds:
        raise DataError(errors or [RecordError(str(path), None, "file", "no seed tasks")])
    return seeds, errors


def _strip_input(ex) -> str:
    inp = ex.meta["input"]
    return ex.instruction[: -len(inp) - 2] if ex.instruction.endswith("\n\n" + inp) else ex.instruction


def _is_seed_layout(path: Path) -> bool:
    for _, line in text_lines(path):
        if line.strip():
            return '"instances"' in line
    return False


def _read_seed_layout(path: Path) -> tuple[list[Task], list[RecordError]]:
    seeds, errors = [], []
    for n, line in text_lines(path):
        if not line.strip():
            continue
        row = parse_json(line, path, n)
        if isinstance(row, RecordError):
            errors.append(row)
            continue
        try:
            seeds.append(_seed_task(row, f"{path.name}:{n}"))
        except _Bad as e:
            errors.append(RecordError(str(path), n, e.args[0], e.args[1]))
    return seeds, errors


class _Bad(Exception):
    pass


def _seed_task(row: object, where: str) -> Task:
    if not isinstance(row, dict):
        raise _Bad("record", "not an object")
    ins = row.get("instruction")
    if not isinstance(ins, str) or not ins.strip():
        raise _Bad("instruction", "missing or empty")
    insts = row.get("instances")
    if not isinstance(insts, list) or not insts:
        raise _Bad("instances", "missing or not a non-empty list")
    pairs = []
    for k, it in enumerate(insts):
        if not isinstance(it, dict) or not isinstance(it.get("output"), str) or not it["output"].strip():
            raise _Bad(f"instances.{k}.output", "missing or empty")
        pairs.append((str(it.get("input") or ""), it["output"]))
    return Task(ins.strip(), pairs, bool(row.get("is_classification")), where)


# ---------------------------------------------------------------- prompts

def sample_context(rng: random.Random, human: list[str], machine: list[str], n_human: int = 6,
                   n_machine: int = 2) -> list[str]:
    """Six human and two machine instructions (more human while the machine pool is small)."""
    mach = rng.sample(machine, min(n_machine, len(machine)))
    hum = rng.sample(human, min(len(human), n_human + n_machine - len(mach)))
    chosen = hum + mach
    rng.shuffle(chosen)
    return chosen


def instruction_prompt(context: list[str]) -> str:
    lines = ["Come up with a series of tasks:"]
    lines += [f"{i}. " + " ".join(t.split()) for i, t in enumerate(context, 1)]
    return "\n".join(lines) + f"\n{len(context) + 1}."


def parse_instructions(completion: str, start: int) -> list[str]:
    """The new tasks of a numbered-list continuation that begins right after ``start.``."""
    text = f"{start}. " + completion.lstrip()
    parts = re.split(r"(?:^|\n)\s*\d+\s*[.)]\s*", text)
    return [p for p in (re.sub(r"\s+", " ", p).strip() for p in parts) if p]


CLASSIFY_HEAD = ("Can the following task be regarded as a classification task with finite output labels?\n\n")


def classify_prompt(task: str, examples: list[Task]) -> str:
    shots = [f"Task: {t.instruction}\nIs it classification? {'Yes' if t.is_classification else 'No'}"
             for t in examples]
    return CLASSIFY_HEAD + "\n\n".join(shots + [f"Task: {task}\nIs it classification?"])


def parse_yes_no(completion: str) -> bool | None:
    m = re.match(r"\W*(yes|no)\b", completion.strip(), re.I)
    return None if m is None else m.group(1).lower() == "yes"


def _clip(text: str, n: int = 300) -> str:
    """Shorten a long seed instance so that few-shot prompts stay cheap to prefill."""
    return text if len(text) <= n else text[:n].rsplit(" ", 1)[0] + " …"


def instance_prompt(task: str, is_classification: bool, examples: list[Task]) -> str:
    if is_classification:
        head = ("Given the classification task definition and the class labels, generate an input that "
                "corresponds to each of the class labels. If the task doesn't require input, just generate "
                "the correct class label.\n\n")
        shots = [f"Task: {t.instruction}\n" + "\n".join(f"Class label: {_clip(o)}\nInput: {_clip(i)}"
                                                  for i, o in t.instances[:2])
                 for t in examples]
        return head + "\n\n".join(shots + [f"Task: {task}\nClass label:"])
    head = ("Come up with examples for the following tasks. Try to generate multiple examples when possible. "
            "If the task doesn't require additional input, you can generate the output directly.\n\n")
    shots = [f"Task: {t.instruction}\n" + "\n".join(f"Input: {_clip(i) or '<noinput>'}\nOutput: {_clip(o)}"
                                                  for i, o in t.instances[:2])
             for t in examples]
    return head + "\n\n".join(shots + [f"Task: {task}\nInput:"])


def parse_instances(completion: str, is_classification: bool) -> list[tuple[str, str]]:
    """(input, output) pairs from an instance completion (it continues after 'Input:' / 'Class label:')."""
    body = completion.split("\nTask:")[0]
    if is_classification:
        body = "Class label:" + body
        pat = r"Class label:\s*(.*?)\s*\nInput:\s*(.*?)(?=\nClass label:|\Z)"
        pairs = [(i, o) for o, i in re.findall(pat, body, re.S)]
    else:
        body = "Input:" + body
        # an output ends where the model starts another block (small models repeat "Output:" lines)
        pat = r"Input:\s*(.*?)\s*\nOutput:\s*(.*?)(?=\n\s*(?:Input|Output|Question|Instruction):|\Z)"
        pairs = re.findall(pat, body, re.S)
    return [("" if i.strip() in ("<noinput>", "None", "N/A") else i.strip(), o.strip()) for i, o in pairs]


# ---------------------------------------------------------------- Evol-Instruct operators

EVOL = {
    "constraints": "Add one more constraint or requirement to the task.",
    "deepen": "Make the task ask for deeper understanding or a more specific answer.",
    "concretize": "Replace general concepts in the task with more specific ones.",
    "reasoning": "Rewrite the task so that it explicitly needs several reasoning steps.",
    "breadth": "Write a brand new task in the same domain as the given one, but rarer and different.",
}


def evol_prompt(task: str, op: str) -> str:
    return (f"Rewrite the given task into a new task for an AI assistant. {EVOL[op]} "
            "The new task must be understandable on its own and at most 40 words longer.\n\n"
            f"Given task: {task}\nNew task:")


def parse_evolved(completion: str) -> str:
    return re.sub(r"\s+", " ", completion.strip().split("\n\n")[0]).strip()
