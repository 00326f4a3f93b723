"""Run a plan over an input of any length: streamed chunks, batched calls, a resumable call cache.

Every model call goes through ``Runner.generate``, which looks each prompt up in the run folder's
``cache.jsonl`` (keyed by the sha256 of model, prompt and sampling) and appends new outputs after
every batch, so a run killed midway resumes without recomputing finished calls. Map steps of one
level share a single pass over the input; nothing but the current batch of chunks and the parsed
partial answers (one small value per chunk) is held in memory.

A map answer of an extractive kind counts only if its chunk contains it (``ils.infer.ground``); the
voted kinds are then weighed by one ``engine.score`` call per batch: the map prompt's likelihood of
the answer against "NONE", so the reduce follows evidence rather than the number of chunks that
guessed alike (``reducers.weigh``). Scores are cached like outputs.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ils.errors import InputError, PlanError
from ils.infer.evidence import Ledger
from ils.infer.ground import ChunkWords, anchors, grounded
from ils.infer.long import Chunk, chunk_file
from ils.infer.plans import Plan, Step, check_plan, fill
from ils.infer.protocol import Engine, EngineError, Sampling
from ils.infer.reducers import HINTS, VOTED, ParseFailure, Vote, evidence, parse, reduce_exact, render, weigh

MAX_CHUNK = 2048  # the default model answers "not found" far more often on longer chunks
MARGIN = 16
RETRY = "\nReply in exactly this form. "
DEFAULT_OVERLAP = 128


class CallCache:
    """Outputs by content hash, appended to a JSONL file (a torn last line is ignored on load)."""

    def __init__(self, path: Path):
        self.path = path
        self.data: dict[str, str] = {}
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                    self.data[row["key"]] = row["output"]
                except (json.JSONDecodeError, KeyError):
                    continue

    @staticmethod
    def key(model: str, prompt: str, max_new_tokens: int | str) -> str:
        return hashlib.sha256(json.dumps([model, prompt, max_new_tokens]).encode()).hexdigest()

    def add(self, items: dict[str, str]) -> None:
        self.data.update(items)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.writelines(json.dumps({"key": k, "output": v}, ensure_ascii=False) + "\n" for k, v in items.items())


@dataclass
class Reply:
    """One model call's outcome: the prompt that produced it (the retry's, if retried) and its output."""

    prompt: str
    output: str
    answer: Any = None
    parsed: bool = False


def lead_in(output: str, answer: str) -> str:
    """The words the model wrote before its answer ('The pass key is '), or '' if it is not there verbatim."""
    i = output.find(answer)
    return output[:i] if i > 0 else ""


@dataclass
class Stats:
    calls: int = 0
    cached: int = 0
    scored: int = 0  # answers weighed by an engine.score call (not counted in calls)
    retries: int = 0
    reduce_depth: int = 0
    errors: list[dict] = field(default_factory=list)


class Runner:
    """Executes one checked plan; ``engines`` maps the plan's model names to engines."""

    def __init__(self, plan: Plan, engines: dict[str, Engine], input_path: Path, out: Path,
                 chunk_tokens: int | None = None, overlap: int | None = None, batch_size: int = 64,
                 on_calls: Callable[[int], None] | None = None):
        self.levels = check_plan(plan, set(engines))
        self.plan, self.engines, self.input, self.out = _routed(plan, set(engines)), engines, input_path, out
        self.count = engines[plan.steps[0].model].count_tokens
        self.context = min(e.context for e in engines.values())
        self.chunk_tokens, self.overlap = self._sizes(chunk_tokens, overlap)
        self.batch_size = batch_size
        self.cache = CallCache(out / "cache.jsonl")
        self.stats = Stats()
        self.on_calls = on_calls or (lambda n: None)
        self.results: dict[str, Any] = {}
        self.ledger = Ledger()

    def _sizes(self, size: int | None, overlap: int | None) -> tuple[int, int]:
        maps = [s for s in self.plan.steps if s.kind in ("map", "refine")]
        overhead = max([self._overhead(s) for s in maps] or [0]) + MARGIN
        room = self.context - overhead
        size = size or self.plan.chunk_tokens or min(MAX_CHUNK, room)
        if size > room or room < 1:
            raise InputError(f"chunk size {size} tokens is larger than the context allows: context "
                             f"{self.context} - prompt and answer {overhead} = {room} tokens per chunk")
        if overlap is None:
            overlap = self.plan.overlap if self.plan.overlap is not None else DEFAULT_OVERLAP
        if any(s.answer == "number" for s in maps):
            overlap = 0  # summed counts would count the overlap twice
        return size, min(overlap, size // 4)

    def _overhead(self, step: Step) -> int:
        """Tokens of a step's prompt besides its chunk: text, chat template, the retry hint, the answer."""
        prompt = fill(step.prompt, {"chunk": "", "instruction": self.plan.instruction, "answer": "x" * 200})
        template = self.engines[step.model].count_tokens([{"role": "user", "content": ""}])
        retry = self.count(RETRY + HINTS[step.answer]) if step.answer in HINTS else 0
        return self.count(prompt) + template + retry + step.max_new_tokens

    def chunks(self) -> Iterator[Chunk]:
        return chunk_file(self.input, self.count, self.chunk_tokens, self.overlap)

    def survey(self) -> dict:
        """One pass over the input (no model): chunk count and tokens, planned calls per step."""
        n, tokens = 0, 0
        for c in self.chunks():
            n, tokens = n + 1, tokens + c.tokens
        if n == 0:
            raise InputError(f"{self.input}: input is empty (only whitespace)")
        calls = {s.name: self._planned_calls(s, n) for s in self.plan.steps}
        fits = tokens + 200 < self.context
        for s in self.plan.steps:
            if "input" in s.refs() and not fits:
                raise PlanError(f"plan: step '{s.name}' reads the whole input ({tokens} tokens), which does not "
                                f"fit the {self.context}-token context; use --plan map-reduce or refine")
        return {"chunks": n, "tokens": tokens, "chunk_tokens": self.chunk_tokens, "overlap": self.overlap,
                "context": self.context, "levels": self.levels, "calls": calls, "total_calls": sum(calls.values())}

    def _planned_calls(self, s: Step, n: int) -> int:
        if s.kind in ("map", "refine"):
            return n
        if s.kind == "reduce":
            return 0 if s.answer != "text" else max(0, math.ceil((n - 1) / 3))
        return 1

    def run(self) -> Any:
        for level in self.levels:
            steps = [self.plan.step(n) for n in level]
            maps = [s for s in steps if s.kind == "map"]
            if maps:
                self._run_maps(maps)
            for s in steps:
                if s.kind != "map":
                    self.results[s.name] = getattr(self, f"_run_{s.kind}")(s)
        return self.results[self.plan.final]

    # ---- model calls -------------------------------------------------------------------------
    def generate(self, model: str, prompts: list[str], max_new_tokens: int) -> list[str]:
        who = getattr(self.engines[model], "identity", "") or model
        keys = [CallCache.key(who, p, max_new_tokens) for p in prompts]
        todo = [i for i, k in enumerate(keys) if k not in self.cache.data]
        if todo:
            chats = [[{"role": "user", "content": prompts[i]}] for i in todo]
            outs = self.engines[model].chat(chats, Sampling(max_new_tokens=max_new_tokens))
            self.cache.add({keys[i]: o for i, o in zip(todo, outs)})
        self.stats.calls += len(todo)
        self.stats.cached += len(prompts) - len(todo)
        self.on_calls(len(prompts))
        return [self.cache.data[k] for k in keys]

    def score(self, model: str, prompts: list[str], options: list[list[str]]) -> list[list[float]]:
        """log P(option | prompt) through the engine, cached like outputs."""
        who = getattr(self.engines[model], "identity", "") or model
        keys = [CallCache.key(who, p, "score:" + json.dumps(o)) for p, o in zip(prompts, options)]
        todo = [i for i, k in enumerate(keys) if k not in self.cache.data]
        if todo:
            chats = [[{"role": "user", "content": prompts[i]}] for i in todo]
            got = self.engines[model].score(chats, [options[i] for i in todo])
            self.cache.add({keys[i]: json.dumps(g) for i, g in zip(todo, got)})
            self.stats.scored += len(todo)
        return [json.loads(self.cache.data[k]) for k in keys]

    def ask(self, step: Step, prompts: list[str], sources: list[Any]) -> list[Any]:
        return [r.answer for r in self._ask(step, prompts, sources)]

    def _ask(self, step: Step, prompts: list[str], sources: list[Any]) -> list[Reply]:
        """Generate and parse; a failed parse is retried once with a format hint, then reported."""
        outs = self.generate(step.model, prompts, step.max_new_tokens)
        replies = [Reply(p, o) for p, o in zip(prompts, outs)]
        for r in replies:
            try:
                r.answer, r.parsed = parse(step.answer, r.output), True
            except ParseFailure:
                pass
        failed = [i for i, r in enumerate(replies) if not r.parsed]
        if failed:
            self.stats.retries += len(failed)
            retry = [prompts[i] + RETRY + HINTS[step.answer] for i in failed]
            for i, p, text in zip(failed, retry, self.generate(step.model, retry, step.max_new_tokens)):
                replies[i] = Reply(p, text)
                try:
                    replies[i].answer, replies[i].parsed = parse(step.answer, text), True
                except ParseFailure as e:
                    self.stats.errors.append({"step": step.name, "from": sources[i], "output": text, "reason": str(e)})
        return replies

    # ---- step kinds --------------------------------------------------------------------------
    def _run_maps(self, steps: list[Step]) -> None:
        for s in steps:
            self.results[s.name] = []
        for batch in _batches(self.chunks(), self._map_batch(steps)):
            for s in steps:
                prompts = [self._prompt(s, chunk=c.text) for c in batch]
                sources = [{"chunk": c.index, "text": c.snippet()} for c in batch]
                self.results[s.name] += self._votes(s, batch, self._ask(s, prompts, sources))

    def _map_batch(self, steps: list[Step]) -> int:
        """Chunks per map batch. A failed parse is retried right after its batch with the same prompt
        and a hint appended; kept within what the engine's prefix cache holds, the retry finds its
        chunk's keys and values there instead of reading the chunk again (a 1M-token passkey run
        retried most chunks and read the input twice)."""
        held = [getattr(self.engines[s.model], "prefix_tokens", 0) for s in steps]
        if not all(held):
            return self.batch_size  # an engine without a prefix cache (a server): nothing to keep
        per_chunk = (self.chunk_tokens + MARGIN) * len(steps)
        return max(1, min(self.batch_size, min(held) // per_chunk))

    def _votes(self, step: Step, batch: list[Chunk], replies: list[Reply]) -> list[Vote]:
        """A batch's parsed answers → votes: NONE dropped, ungrounded ones recorded, voted kinds weighed."""
        tally, must = self.ledger.tally(step.name), self._anchors(step)
        tally.chunks += len(batch)
        votes, kept = [], []
        for c, r in zip(batch, replies):
            tally.unparsed += not r.parsed
            tally.none += r.parsed and r.answer is None
            a = r.answer
            if a is None:
                continue
            if step.grounds():
                a = self._ground(step, a, c, must)
                if a is None:
                    continue
            tally.grounded += 1
            votes.append(Vote(a, c.index))
            kept.append(r)
        if step.answer in VOTED and votes:
            self._weigh(step, votes, kept)
        return votes

    def _question(self, step: Step) -> str:
        """The step's prompt without its chunk: what was asked (for anchors and restated answers)."""
        return fill(step.prompt, {"instruction": self.plan.instruction, "chunk": "", "input": ""})

    def _anchors(self, step: Step) -> list[str]:
        return anchors(self._question(step))

    def _ground(self, step: Step, answer: Any, chunk: Chunk, must: list[str]) -> Any:
        """The grounded part of an answer (None if nothing is); the rest is recorded with its chunk."""
        kept, dropped = grounded(step.answer, answer, ChunkWords(chunk.text), must, self._question(step))
        if dropped is not None:
            self.ledger.drop(step.name, chunk.index, dropped, chunk.snippet())
        return kept

    def _weigh(self, step: Step, votes: list[Vote], replies: list[Reply]) -> None:
        """Each vote's weight: the map prompt's log-odds of its answer against NONE (one score call),
        both put where the model put its answer ('The pass key is 48213.' → 'The pass key is NONE')."""
        if self.ledger.weights != "scored":
            return
        options = []
        for v, r in zip(votes, replies):
            answer = render(step.answer, v.answer)
            lead = lead_in(r.output, answer)
            options.append([lead + answer, lead + "NONE"])
        try:
            scores = self.score(step.model, [r.prompt for r in replies], options)
        except EngineError as e:
            self.ledger.weights = f"unweighted: {e}"
            return
        for v, (answer, none) in zip(votes, scores):
            v.weight = evidence(answer, none)

    def _run_reduce(self, step: Step) -> Any:
        source = next(iter(step.needs() - {"input"}))
        self.ledger.reads[step.name] = source
        parts = self.results[source]
        if step.answer in VOTED:
            evidence = weigh(parts)
            self.ledger.evidence[step.name] = evidence
            return evidence["answer"]
        if step.answer != "text":
            return reduce_exact(step.answer, [v.answer for v in parts])
        return self._tree(step, [(v.answer, [v.chunk]) for v in parts])

    def _tree(self, step: Step, parts: list[tuple[str, list]]) -> str | None:
        depth = 0
        while len(parts) > 1:
            groups = self._groups(step, parts)
            prompts = [self._prompt(step, partials=_numbered([p for p, _ in g])) for g in groups]
            sources = [{"partials_from": [i for _, src in g for i in src]} for g in groups]
            answers = self.ask(step, prompts, sources)
            parts = [(a, src["partials_from"]) for a, src in zip(answers, sources) if a is not None]
            depth += 1
        self.stats.reduce_depth = max(self.stats.reduce_depth, depth)
        return parts[0][0] if parts else None

    def _groups(self, step: Step, parts: list[tuple[str, list]]) -> list[list[tuple[str, list]]]:
        room = self.context - MARGIN - self._overhead(step)
        groups, current = [], []
        for p in parts:
            if len(current) >= 2 and self.count(_numbered([q for q, _ in current + [p]])) > room:
                groups.append(current)
                current = []
            current.append(p)
        return groups + [current]

    def _run_refine(self, step: Step) -> Any:
        answer = None
        for c in self.chunks():
            prompt = self._prompt(step, chunk=c.text, answer=render(step.answer, answer))
            new = self.ask(step, [prompt], [{"chunk": c.index, "text": c.snippet()}])[0]
            answer = new if new is not None else answer
        return answer

    def _run_call(self, step: Step) -> Any:
        """One prompt; not sent when every step it reads found nothing (the model would invent)."""
        deps = sorted(step.needs() - {"input"})
        if deps and "input" not in step.needs() and all(self.results.get(d) in (None, []) for d in deps):
            self.ledger.skipped[step.name] = deps
            return None
        values = {"input": self.input.read_text(encoding="utf-8")} if "input" in step.refs() else {}
        reply = self._ask(step, [self._prompt(step, **values)], [{"step": step.name}])[0]
        tally = self.ledger.tally(step.name)
        tally.chunks, tally.unparsed, tally.none = 1, int(not reply.parsed), int(reply.parsed and reply.answer is None)
        if reply.answer is None or not step.grounds():
            return reply.answer
        kept = self._ground(step, reply.answer, Chunk(0, values["input"], 0), self._anchors(step))
        tally.grounded = int(kept is not None)
        return kept

    def _prompt(self, step: Step, **values: str) -> str:
        refs = {n: self._render(n) for n in step.refs() if n in self.results}
        return fill(step.prompt, {"instruction": self.plan.instruction, **refs, **values})

    def _render(self, name: str) -> str:
        step, value = self.plan.step(name), self.results[name]
        if step.kind == "map":
            return "\n".join(render(step.answer, v.answer) for v in value) or "NONE"
        return render(step.answer, value)


def _routed(plan: Plan, models: set[str]) -> Plan:
    """Steps with ``model: route`` → the adapter named for the task their prompt belongs to."""
    if all(s.model != "route" for s in plan.steps):
        return plan
    from ils.infer.route import route

    steps = [s.model_copy(update={"model": route(fill(s.prompt, {"instruction": plan.instruction}), models)})
             if s.model == "route" else s for s in plan.steps]
    return plan.model_copy(update={"steps": steps})


def _numbered(texts: list[str]) -> str:
    return "\n".join(f"{i + 1}. {t}" for i, t in enumerate(texts))


def _batches(items: Iterator[Chunk], size: int) -> Iterator[list[Chunk]]:
    batch: list[Chunk] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def context_of(engine: Engine) -> int:
    return engine.context
