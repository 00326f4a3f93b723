"""The Self-Instruct filters, each returning the reason a candidate is dropped (None keeps it).

Instruction filters follow the paper's reference code: length in words, words a text model
cannot act on (image, graph, picture, file, map, draw, plot, go to, video, audio, …), a start with
punctuation or a non-ASCII character, "Write a program" openers (ambiguous about language and I/O), and
text that is not text (markup, code fences, mostly symbols). Instance filters drop empty or
over-long outputs, repeated input/output pairs, and a task whose output is the same for every
input (the model did not do the task). The near-duplicate filter is ``pool.InstructionPool``.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

BLACKLIST = ("image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map", "maps",
             "draw", "plot", "go to", "video", "audio", "music", "flowchart", "diagram", "photo", "sketch")
_BLACK = re.compile(r"\b(" + "|".join(re.escape(w) for w in BLACKLIST) + r")\b", re.I)


@dataclass(frozen=True)
class Limits:
    min_words: int = 3
    max_words: int = 150
    max_output_chars: int = 2000
    max_input_chars: int = 2000


def instruction_reason(text: str, limits: Limits = Limits()) -> str | None:
    """Why an instruction is dropped (the first rule it breaks), or None."""
    if not isinstance(text, str) or not text.strip():
        return "empty"
    text = text.strip()
    if _not_text(text):
        return "not text"
    n = len(text.split())
    if n < limits.min_words:
        return "too short"
    if n > limits.max_words:
        return "too long"
    hit = _BLACK.search(text)
    if hit:
        return f"blacklisted word: {hit.group(1).lower()}"
    if text.lower().startswith("write a program"):
        return "starts with 'write a program'"
    if text[0] in string.punctuation:
        return "starts with punctuation"
    if not text[0].isascii():
        return "starts with a non-English character"
    return None


def _not_text(text: str) -> bool:
    """Markup, code or symbol soup rather than a sentence."""
    if "```" in text or re.search(r"</?[a-z]+>", text) or "<|" in text:
        return True
    letters = sum(c.isalpha() for c in text)
    return letters < 0.5 * len(text.replace(" ", ""))


def instance_reason(inp: str, out: str, limits: Limits = Limits()) -> str | None:
    """Why one input/output pair is dropped, or None."""
    if not out.strip():
        return "empty output"
    if len(out) > limits.max_output_chars:
        return "output too long"
    if len(inp) > limits.max_input_chars:
        return "input too long"
    if inp.strip() and inp.strip() == out.strip():
        return "output repeats the input"
    return None


def filter_instances(instances: list[tuple[str, str]], limits: Limits = Limits()
                     ) -> tuple[list[tuple[str, str]], list[str]]:
    """Keep the good, distinct pairs; returns (kept, one reason per dropped pair or task)."""
    kept, reasons, seen = [], [], set()
    for inp, out in instances:
        why = instance_reason(inp, out, limits)
        key = (" ".join(inp.lower().split()), " ".join(out.lower().split()))
        if why is None and key in seen:
            why = "duplicate input/output pair"
        if why:
            reasons.append(why)
            continue
        seen.add(key)
        kept.append((inp.strip(), out.strip()))
    distinct_inputs = {" ".join(i.lower().split()) for i, _ in kept}
    if len(distinct_inputs) > 1 and len({" ".join(o.lower().split()) for _, o in kept}) == 1:
        return [], reasons + ["same output for every input"]
    return kept, reasons
