"""Offline engine throughput: ILS's continuous-batching engine vs Hugging Face's, same work.

All get the same chat prompts (default model), greedy, exactly ``--max-tokens`` new tokens each
(EOS ignored, so the work is equal), in float32. The peer rows: ``generate`` one prompt at a time
(its default use), ``generate`` on one left-padded batch of all prompts (its best setting here), and
transformers' own continuous batching (``generate_batch``) with its defaults and with the best
settings found here (SDPA attention, 64-token pages) — the library ILS would have used if it were
fast on a CPU.
Also checks that the engine's greedy tokens equal one-at-a-time ``generate`` for every prompt (the
parity the engine's unit tests prove on a tiny model, here on the real one). Run alone:

    PYTHONPATH=src python bench/engine.py --prompts 32 --max-tokens 64 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

TOPICS = ["cat", "lighthouse", "robot", "river", "market", "piano", "storm", "garden"]


def prompts(n: int) -> list[list[dict]]:
    return [[{"role": "user", "content": f"Write a short story about a {TOPICS[i % 8]} ({i})."}] for i in range(n)]


def hf_one_by_one(model, tok, chats, n_new: int) -> tuple[float, list[list[int]]]:
    out, start = [], time.perf_counter()
    for chat in chats:
        ids = torch.tensor([tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=True,
                                                    return_dict=True)["input_ids"]])
        g = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n_new,
                           min_new_tokens=n_new, do_sample=False, pad_token_id=tok.pad_token_id)
        out.append(g[0, ids.shape[1]:].tolist())
    return time.perf_counter() - start, out


def hf_batch(model, tok, chats, n_new: int) -> float:
    rows = [tok.apply_chat_template(c, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
            for c in chats]
    width, pad = max(map(len, rows)), tok.pad_token_id
    ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    start = time.perf_counter()
    model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n_new, min_new_tokens=n_new,
                   do_sample=False, pad_token_id=pad)
    return time.perf_counter() - start


def hf_continuous(model, tok, chats, n_new: int, best: bool) -> float:
    from transformers import ContinuousBatchingConfig, GenerationConfig

    rows = [tok.apply_chat_template(c, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
            for c in chats]
    gc = GenerationConfig(max_new_tokens=n_new, do_sample=False, eos_token_id=-1, pad_token_id=tok.pad_token_id)
    cfg = ContinuousBatchingConfig(page_size=64, num_blocks=128, max_batch_tokens=2048) if best else None
    model.set_attn_implementation("sdpa" if best else "paged|sdpa")
    start = time.perf_counter()
    model.generate_batch(rows, generation_config=gc, continuous_batching_config=cfg, progress_bar=False,
                         persistent_manager=best)
    elapsed = time.perf_counter() - start
    model.set_attn_implementation("sdpa")
    return elapsed


def ils(engine, chats, n_new: int) -> tuple[float, list[list[int]]]:
    from ils.infer.protocol import Sampling

    start = time.perf_counter()
    done = engine.generate(chats, Sampling(max_new_tokens=n_new, ignore_eos=True))
    return time.perf_counter() - start, [c.token_ids for c in done]


def one_round(engine, model, tok, chats, args, rows: dict | None) -> tuple[list, list | None]:
    """Every row once, one after another (nothing else runs meanwhile); ``rows`` None: warm-up only."""
    work, record = args.prompts * args.max_tokens, (lambda name, t: rows[name].append(work / t) if rows else None)
    t, got = ils(engine, chats, args.max_tokens)
    record("ILS engine", t)
    engine.runner.release()  # HF's own attention for the peer rows
    record("HF generate, one batch", hf_batch(model, tok, chats, args.max_tokens))
    for best in (False, True):
        record(f"HF generate_batch, {'best' if best else 'defaults'}", hf_continuous(model, tok, chats,
                                                                                     args.max_tokens, best))
    want = None
    if not args.skip_one_by_one and rows is not None:
        t, want = hf_one_by_one(model, tok, chats, args.max_tokens)
        record("HF generate, one by one", t)
    engine.runner.attach()
    return got, want


def _until_eos(ids: list[int], tok) -> list[int]:
    """Up to the first EOS: ``generate`` with min_new_tokens never picks EOS, the engine may (and goes on)."""
    return ids[: ids.index(tok.eos_token_id)] if tok.eos_token_id in ids else ids


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip-one-by-one", action="store_true", help="the slowest peer row (parity needs it)")
    args = ap.parse_args()
    from ils.infer.engine import LocalEngine
    from ils.models.loading import load_base

    model, tok, _ = load_base("default", torch.float32)
    model.eval()
    engine = LocalEngine(model, tok, batch_size=max(64, args.prompts))
    chats = prompts(args.prompts)
    rows: dict[str, list[float]] = {"ILS engine": [], "HF generate, one batch": [], "HF generate, one by one": [],
                                    "HF generate_batch, defaults": [], "HF generate_batch, best": []}
    parity = None
    with torch.inference_mode():
        for r in range(args.rounds + 1):  # round 0 warms every row up (allocators, first-call setup)
            got, want = one_round(engine, model, tok, chats, args, rows if r else None)
            parity = parity if want is None else sum(_until_eos(a, tok) == _until_eos(b, tok)
                                                     for a, b in zip(got, want))
    engine.close()
    report(rows, args, parity)


def report(rows: dict[str, list[float]], args, parity: int | None) -> None:
    base = statistics.median(rows["ILS engine"])
    print(f"{args.prompts} prompts x {args.max_tokens} new tokens, float32, {torch.get_num_threads()} threads, "
          f"median of {args.rounds}")
    print(f"{'':28}{'tok/s':>8}{'min':>8}{'max':>8}{'ILS vs row':>12}")
    for name, xs in rows.items():
        if xs:
            m = statistics.median(xs)
            print(f"{name:28}{m:8.1f}{min(xs):8.1f}{max(xs):8.1f}{base / m:11.2f}x")
    if parity is not None:
        print(f"greedy tokens equal to one-by-one generate: {parity}/{args.prompts} prompts")


if __name__ == "__main__":
    main()
