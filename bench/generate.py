"""Self-instruct speed: the local engine batched vs one prompt at a time, and the pool filter.

    PYTHONPATH=src nice -n 10 python bench/generate.py [--engine] [--pool] [--n 50000] [--sample 3000]

Engine: 16 instruction-style prompts, greedy, ``--tokens`` new tokens each, through ``Engine.complete``
with batch size 16 (one forward pass per step for all prompts) vs batch size 1 (``model.generate``
one prompt at a time); throughput counts the tokens actually generated (EOS ends a row early).
Pool: N synthetic instructions (the generator of bench/dedup.py: frames, word salad, edited copies)
offered one by one to a growing ``InstructionPool`` (MinHash LSH candidates, ROUGE-L ≥ 0.7 confirm),
then agreement of its keep/drop decisions with the reference all-pairs ROUGE-L filter on a sample.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dedup import make_records  # noqa: E402

from ils.generate.pool import InstructionPool, all_pairs_filter  # noqa: E402

PROMPTS = ["Come up with a series of tasks:\n1. Write a poem about the sea.\n2. Sort the numbers.\n3.",
           "Give three tips for staying healthy.", "Translate 'good morning' into Spanish.",
           "Explain what a binary search is.", "Write a short story about a robot.",
           "List five fruits that are red.", "Summarize the plot of Romeo and Juliet.",
           "What is the capital of Australia and why?", "Describe the water cycle.",
           "Suggest a name for a coffee shop.", "How do I make a paper airplane?",
           "Classify the sentiment: 'I loved this film'.", "Write a haiku about winter.",
           "Explain photosynthesis to a child.", "Give an example of a metaphor.", "Plan a one-day trip to Paris."]


def bench_engine(tokens: int) -> None:
    from ils.infer.engine import Engine, Sampling

    engine = Engine.load("default", batch_size=16)
    chats = [[{"role": "user", "content": p}] for p in PROMPTS]
    s = Sampling(max_new_tokens=tokens)
    engine.chat(chats[:2], Sampling(max_new_tokens=4))  # warm up
    rates = {}
    for bs in (1, 16):
        engine.batch_size = bs
        t0 = time.perf_counter()
        outs = engine.chat(chats, s)
        secs = time.perf_counter() - t0
        n = sum(len(engine.tok(o, add_special_tokens=False).input_ids) + 1 for o in outs)
        rates[bs] = n / secs
        print(f"engine batch {bs:2d}: {n} tokens in {secs:.1f} s = {rates[bs]:.1f} tok/s")
    print(f"batched / one-by-one: {rates[16] / rates[1]:.2f}x (target >= 6x)")


def bench_pool(n: int, sample: int, seed: int) -> None:
    texts = make_records(n, seed)
    pool = InstructionPool(0.7)
    t0 = time.perf_counter()
    kept = sum(pool.offer(t) is None for t in texts)
    secs = time.perf_counter() - t0
    print(f"pool filter: {n} candidates one by one in {secs:.1f} s ({n / secs:,.0f}/s), kept {kept}")
    small = make_records(sample, seed + 1)
    pool = InstructionPool(0.7)
    ours = [pool.offer(t) is None for t in small]
    t0 = time.perf_counter()
    ref = all_pairs_filter(small, 0.7)
    t_ref = time.perf_counter() - t0
    agree = sum(a == b for a, b in zip(ours, ref))
    print(f"agreement with all-pairs ROUGE-L on {sample}: {agree}/{sample} = {agree / sample:.4f} "
          f"(kept: pool {sum(ours)}, all-pairs {sum(ref)}; all-pairs took {t_ref:.1f} s)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", action="store_true")
    ap.add_argument("--pool", action="store_true")
    ap.add_argument("--tokens", type=int, default=48)
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--sample", type=int, default=3_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    both = not (args.engine or args.pool)
    if args.pool or both:
        bench_pool(args.n, args.sample, args.seed)
    if args.engine or both:
        bench_engine(args.tokens)


if __name__ == "__main__":
    main()
