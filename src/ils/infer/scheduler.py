"""Continuous batching: requests join and leave the running batch at every step.

Each ``step`` admits waiting requests while rows and the KV budget allow (their cached prefix copied
in), then runs one forward pass over one token of every decoding request plus chunks of prompts
still being prefilled (oldest first, up to ``step_tokens`` in all), so running answers keep
coming while new prompts are read. Each request samples with its own settings; EOS, a stop string,
``max_new_tokens`` or the context end a request at the step it happens, and its row is free for the
next step. A forward pass that fails ends only the requests it carried, with the error.

Why our own scheduler: transformers' continuous-batching manager ran 114–135 tok/s here against
249 for plain ``generate`` on the same 32 prompts (it is built for GPUs: paged kernels, CUDA
graphs), and has no per-row LoRA adapters or per-request stop strings; vLLM's CPU build needs its
own pinned environment. See docs/engine.md for the measurements.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ils.infer.attention import StepLayout, decode_bias
from ils.infer.detok import TextStream
from ils.infer.kvcache import RowCache
from ils.infer.prefix import PrefixStore, block_keys
from ils.infer.protocol import Sampling
from ils.infer.sampler import generator, next_tokens


@dataclass(eq=False)
class Request:
    """One sequence: its tokens (prompt, then answer) and where it stands."""

    id: int
    tokens: list[int]
    sampling: Sampling
    adapter: str | None = None
    score_from: int | None = None  # score request: sum log P(tokens[score_from:]) given what precedes
    on_text: Callable[[str], None] | None = None
    on_done: Callable[["Request"], None] | None = None
    prompt_len: int = 0
    row: int = -1
    computed: int = 0  # tokens whose keys and values are in the row
    cached: int = 0  # of which came from the prefix cache
    logprob: float = 0.0
    finish: str | None = None
    error: str | None = None
    aborted: bool = False
    stream: TextStream | None = None
    gen: Any = None
    keys: list[bytes] = field(default_factory=list)
    token_logprobs: list[float] | None = None  # per scored or generated token, when asked for
    children: list["Request"] = field(default_factory=list)  # scored once this prompt is read
    spawned: bool = False

    @property
    def scoring(self) -> bool:
        return self.score_from is not None

    @property
    def decoding(self) -> bool:
        return not self.scoring and self.computed >= self.prompt_len

    def need(self, context: int) -> int:
        """Positions this request may fill: what its row must hold."""
        if self.scoring:
            return len(self.tokens)
        return min(context, self.prompt_len + self.sampling.max_new_tokens)

    def first_logit(self) -> int:
        """The first position whose next-token distribution is needed (never served from the cache)."""
        if self.scoring:
            return max(0, self.score_from - 1)
        return self.prompt_len - 1


@dataclass
class Step:
    requests: list[tuple[Request, int]]  # (request, tokens it runs this step), decoders first
    tokens: list[int]
    layout: StepLayout
    logit_rows: list[int]  # flat token indices whose logits are needed
    logit_owner: list[tuple[Request, int]]  # (request, target token or -1 to sample)


class Scheduler:
    def __init__(self, runner: Any, cache: RowCache, prefix: PrefixStore, tok: Any, *, context: int,
                 eos: set[int], max_rows: int = 64, step_tokens: int = 512):
        self.runner, self.cache, self.prefix, self.tok = runner, cache, prefix, tok
        self.context, self.eos, self.max_rows, self.step_tokens = context, eos, max_rows, step_tokens
        self.waiting: deque[Request] = deque()
        self.by_row: list[Request | None] = []
        self.steps = self.tokens_run = self.aborted = 0

    # -- admission ------------------------------------------------------------------------
    def add(self, r: Request) -> None:
        r.prompt_len = len(r.tokens) if r.scoring else r.prompt_len or len(r.tokens)
        if not r.scoring:
            r.stream, r.gen = TextStream(self.tok, r.sampling.stop), generator(r.sampling)
        if r.sampling.logprobs:
            r.token_logprobs = []
        self.waiting.append(r)

    @property
    def running(self) -> list[Request]:
        return [r for r in self.by_row if r is not None]

    def idle(self) -> None:
        """Nothing runs or waits: give the cache's memory back."""
        if not self.busy() and self.cache.rows:
            self.by_row = []
            self.cache.release()

    def busy(self) -> bool:
        return bool(self.waiting) or any(r is not None for r in self.by_row)

    def _admit(self) -> None:
        while self.waiting and self._room_for(self.waiting[0]):
            r = self.waiting.popleft()
            if r.aborted:
                self._finish(r, "abort")
                continue
            self._place(r)

    def _room_for(self, r: Request) -> bool:
        running = self.running
        if len(running) >= self.max_rows:
            return False
        width = max([x.need(self.context) for x in running] + [r.need(self.context)])
        return self.cache.fits(len(running) + 1, width) or not running

    def _place(self, r: Request) -> None:
        self._compact()
        r.row = len(self.by_row)
        self.by_row.append(r)
        self.cache.ensure(len(self.by_row), max(x.need(self.context) for x in self.running), self.max_rows)
        b = self.prefix.block
        # a scoring request may read on past its first scored token (stored log-probs): every block's key
        r.keys = block_keys(r.tokens, r.adapter, len(r.tokens) if r.scoring else r.first_logit(), b)
        hits = self.prefix.match(r.keys[:r.first_logit() // b], r.first_logit())
        upto = self._reuse_scores(r, hits) if r.scoring else hits * b
        if upto:
            kv = self.prefix.fetch(r.keys[:-(-upto // b)])
            self.cache.write(r.row, 0, kv[:, :, :, :upto])
            r.computed = r.cached = upto

    def _reuse_scores(self, r: Request, hits: int) -> int:
        """A scoring request also skips the blocks after its first scored token whose log-probs are
        stored, taking them as its own; the last position before the first unknown token is run
        again, since its logits score that token. Returns how many positions come from the cache."""
        b = self.prefix.block
        found: list[list[float]] = []
        while hits + len(found) < len(r.keys):
            n = hits + len(found)
            values = self.prefix.scored(r.keys[n], max(0, r.score_from - n * b))
            if values is None:
                break
            found.append(values)
        if not found:
            return hits * b
        upto = (hits + len(found)) * b
        values = [v for block in found for v in block][max(0, r.score_from - hits * b):]
        r.logprob += sum(values)
        if r.token_logprobs is not None:
            r.token_logprobs.extend(values)
        self.prefix.served(upto - 1 - r.first_logit())
        return upto - 1

    # -- one step ---------------------------------------------------------------------------
    def step(self) -> int:
        """Run one forward pass; returns how many tokens it carried (0: nothing to do)."""
        self._drop_aborted()
        self._admit()
        self._compact()
        step = self._plan()
        if step is None:
            return 0
        try:
            logits = self.runner.forward(step.tokens, step.layout, self._adapters(step), step.logit_rows)
        except Exception as e:  # noqa: BLE001  (the requests of this step fail; the engine goes on)
            for r, _ in step.requests:
                self._finish(r, "error", f"{type(e).__name__}: {e}")
            return len(step.tokens)
        self._advance(step, logits)
        self.steps, self.tokens_run = self.steps + 1, self.tokens_run + len(step.tokens)
        return len(step.tokens)

    def _plan(self) -> Step | None:
        running = self.running
        decoders = [r for r in running if r.decoding]
        prefill = sorted((r for r in running if not r.decoding), key=lambda r: r.id)
        budget = max(self.step_tokens - len(decoders), 16)
        chunks = []
        for r in prefill:
            n = min(len(r.tokens) - r.computed, budget)
            if n <= 0:
                break
            chunks.append((r, n))
            budget -= n
        if not decoders and not chunks:
            return None
        return self._build([(r, 1) for r in decoders] + chunks, len(decoders))

    def _build(self, plan: list[tuple[Request, int]], n_decode: int) -> Step:
        tokens, rows, positions, prefills, logit_rows, owners = [], [], [], [], [], []
        for r, n in plan:
            first = len(tokens)
            tokens += r.tokens[r.computed:r.computed + n]
            rows += [r.row] * n
            positions += range(r.computed, r.computed + n)
            if first >= n_decode:
                prefills.append((first, n, r.row, r.computed))
            for pos in range(r.computed, r.computed + n):
                target = self._target(r, pos)
                if target is not None:
                    logit_rows.append(first + pos - r.computed)
                    owners.append((r, target))
        layout = self._layout(plan[:n_decode], rows, positions, n_decode, prefills)
        return Step(plan, tokens, layout, logit_rows, owners)

    def _target(self, r: Request, pos: int) -> int | None:
        """What the logits at ``pos`` are for: a token to score, -1 to sample the next one, or None."""
        if r.scoring:
            return r.tokens[pos + 1] if r.score_from - 1 <= pos < len(r.tokens) - 1 else None
        return -1 if pos == len(r.tokens) - 1 else None

    def _layout(self, decoders: list[tuple[Request, int]], rows: list[int], positions: list[int],
                n_decode: int, prefills: list) -> StepLayout:
        layout = StepLayout(self.cache, torch.tensor(rows), torch.tensor(positions), n_decode, None,
                            prefills=prefills)
        if n_decode:
            lengths = torch.tensor([r.computed + 1 for r, _ in decoders])
            layout.decode_width = int(lengths.max())
            layout.decode_bias = decode_bias(lengths, layout.decode_width, self.cache.shape.dtype)
            dec_rows = [r.row for r, _ in decoders]
            if dec_rows != list(range(n_decode)):
                layout.decode_rows = torch.tensor(dec_rows)
        return layout

    def _adapters(self, step: Step) -> list[str | None]:
        return [r.adapter for r, n in step.requests for _ in range(n)]

    # -- after the forward pass ---------------------------------------------------------------
    def _advance(self, step: Step, logits: torch.Tensor) -> None:
        for r, n in step.requests:
            r.computed += n
        self._score(step, logits)
        sample = [(i, r) for i, (r, t) in enumerate(step.logit_owner) if t == -1]
        if sample:
            rows = logits[[i for i, _ in sample]]
            chosen = next_tokens(rows, [r.sampling for _, r in sample], [r.gen for _, r in sample])
            self._keep_logprobs(rows, [r for _, r in sample], chosen)
            for (_, r), token in zip(sample, chosen):
                self._emit(r, token)
        for r, _ in step.requests:
            if r.finish is None and r.scoring and r.computed == len(r.tokens):
                self._finish(r, "stop")

    def _score(self, step: Step, logits: torch.Tensor) -> None:
        picks = [(i, r, t) for i, (r, t) in enumerate(step.logit_owner) if t >= 0]
        if not picks:
            return
        lp = torch.log_softmax(logits[[i for i, _, _ in picks]], dim=-1)
        values = lp[torch.arange(len(picks)), torch.tensor([t for _, _, t in picks])].tolist()
        for (_, r, _), v in zip(picks, values):
            r.logprob += v
            if r.token_logprobs is not None:
                r.token_logprobs.append(v)

    def _keep_logprobs(self, logits: torch.Tensor, reqs: list[Request], chosen: list[int]) -> None:
        want = [i for i, r in enumerate(reqs) if r.token_logprobs is not None]
        if want:
            lp = torch.log_softmax(logits[want], dim=-1)
            values = lp[torch.arange(len(want)), torch.tensor([chosen[i] for i in want])].tolist()
            for i, v in zip(want, values):
                reqs[i].token_logprobs.append(v)

    def _emit(self, r: Request, token: int) -> None:
        if r.computed == r.prompt_len:
            self._remember(r, r.prompt_len)
            self._spawn(r)
        r.tokens.append(token)
        if token in self.eos and not r.sampling.ignore_eos:
            return self._finish(r, "stop")
        r.stream.add(token)
        if r.on_text is not None:
            piece = r.stream.delta(final=r.stream.stopped)
            if piece:
                _call(r.on_text, piece)
        if r.stream.stopped:
            return self._finish(r, "stop")
        if len(r.tokens) - r.prompt_len >= r.sampling.max_new_tokens or len(r.tokens) >= self.context:
            self._finish(r, "length")

    def _spawn(self, r: Request) -> None:
        """The prompt is read and its blocks are cached: its option scorings go first in the queue,
        so they start from those blocks at the next step instead of reading the prompt again."""
        if r.spawned:
            return
        for child in reversed(r.children):
            self.add(child)
            self.waiting.rotate(1)  # added last: move it to the front
        r.spawned = True

    def _remember(self, r: Request, upto: int, scores: list[float] | None = None) -> None:
        """Put the row's full blocks before ``upto`` into the prefix cache; with ``scores`` (a scoring
        request's log-prob of each token from its ``score_from`` on), each block keeps its tokens' own."""
        keys = block_keys(r.tokens, r.adapter, upto, self.prefix.block)
        b, nan = self.prefix.block, float("nan")
        by_pos = [nan] * (r.score_from or 0) + list(scores or [])
        for i, key in enumerate(keys[r.cached // b:], start=r.cached // b):
            mine = (by_pos[i * b:(i + 1) * b] + [nan] * b)[:b] if scores is not None else None
            if key not in self.prefix.blocks:
                self.prefix.put(key, self.cache.read(r.row, i * b, (i + 1) * b), mine)
            elif mine is not None:
                self.prefix.put(key, self.prefix.blocks[key], mine)

    def _finish(self, r: Request, reason: str, error: str | None = None) -> None:
        if r.finish is not None:
            return
        r.finish, r.error = reason, error
        self.aborted += reason == "abort"
        if r.stream is not None:
            r.stream.flush()
        if r.row >= 0:
            if reason in ("stop", "length") and r.scoring:
                self._remember(r, r.score_from if r.token_logprobs is None else len(r.tokens),
                               r.token_logprobs)
            self.by_row[r.row] = None
            r.row = -1
        if r.on_text is not None and r.stream is not None:
            rest = r.stream.delta(final=True)
            if rest:
                _call(r.on_text, rest)
        if not r.spawned:  # children never queued end with their parent
            for child in r.children:
                self._finish(child, reason if reason in ("abort", "error") else "abort", error)
            r.spawned = True
        if r.on_done is not None:
            _call(r.on_done, r)

    def _drop_aborted(self) -> None:
        for r in [r for r in self.running if r.aborted] + [r for r in self.waiting if r.aborted]:
            self._finish(r, "abort")
        self.waiting = deque(r for r in self.waiting if r.finish is None)

    def fail_all(self, error: str) -> None:
        """End every request with ``error`` (after a fault outside the forward pass)."""
        for r in self.running + list(self.waiting):
            self._finish(r, "error", error)
        self.waiting.clear()

    # -- rows -----------------------------------------------------------------------------------
    def _compact(self) -> None:
        """Fill holes from the end, then put decoding rows first (one strided view for attention)."""
        while self.by_row and self.by_row[-1] is None:
            self.by_row.pop()
        holes = [i for i, r in enumerate(self.by_row) if r is None]
        while holes and holes[0] < len(self.by_row) - 1:
            self._move(len(self.by_row) - 1, holes.pop(0))
            while self.by_row and self.by_row[-1] is None:
                self.by_row.pop()
        n_dec = sum(r.decoding for r in self.running)
        late = [i for i in range(n_dec, len(self.by_row)) if self.by_row[i].decoding]
        early = [i for i in range(n_dec) if not self.by_row[i].decoding]
        for a, b in zip(early, late):
            self._swap(a, b)

    def _move(self, src: int, dst: int) -> None:
        r = self.by_row[src]
        self.cache.move(src, dst, r.computed)
        self.by_row[dst], self.by_row[src], r.row = r, None, dst

    def _swap(self, a: int, b: int) -> None:
        ra, rb = self.by_row[a], self.by_row[b]
        self.cache.swap(a, b, ra.computed, rb.computed)
        self.by_row[a], self.by_row[b], ra.row, rb.row = rb, ra, b, a

    def stats(self) -> dict:
        return {"steps": self.steps, "tokens_run": self.tokens_run, "aborted": self.aborted,
                "waiting": len(self.waiting),
                "running": len(self.running), "kv_bytes": self.cache.nbytes(), "kv_peak_bytes": self.cache.peak,
                "kv_budget_bytes": self.cache.budget * self.cache.shape.bytes_per_token(), **self.prefix.stats()}


def _call(callback: Callable[..., None], *args: Any) -> None:
    """A caller's callback must not take the batch down with it (a closed event loop, a full queue)."""
    try:
        callback(*args)
    except Exception:  # noqa: BLE001
        logging.getLogger("ils.engine").exception("a request callback failed")
