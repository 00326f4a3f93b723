"""Near-duplicate filtering speed and recall.

    PYTHONPATH=src python bench/dedup.py [--n 50000] [--sample 5000] [--seed 0]

Speed: ``near_duplicates`` over N synthetic instruction records (frames with filled slots, free
word salad, and edited copies of earlier records, so that true near-duplicates exist at every
distance). Recall: on a sample where all pairs can be checked, the share of pairs with ROUGE-L > 0.7
that (a) LSH proposes as candidates and (b) do not both survive the filter. All-pairs ROUGE-L is
exact: a count-vector dot product bounds the LCS from above, so only pairs passing that bound need
the LCS (all-pairs over 50k would take about a CPU-day with rouge-score).
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np
from scipy import sparse

from ils.data.dedup import NearDupConfig, candidate_pairs, near_duplicates
from ils.data.rouge import rouge_l, tokens

FRAMES = ["Write a {} about {} for {}.", "Explain how {} affects {} in {}.", "List three {} that {} can use.",
          "Give me a short {} describing {} and {}.", "Summarize the {} of {} in one sentence.",
          "What is the difference between {} and {}?", "Translate the {} into {} for {}.",
          "Classify the {} as {} or {}.", "Create a {} plan for {} with {}.", "Why does {} prefer {}?"]


def vocabulary(rng: random.Random, n: int = 3000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choices(letters, k=rng.randint(3, 9))) for _ in range(n)]


def phrase(rng: random.Random, vocab: list[str], k: int) -> str:
    # Skewed: some words are much more common than others, as in real instructions.
    return " ".join(vocab[int(len(vocab) * rng.random() ** 3)] for _ in range(k))


def edit(rng: random.Random, text: str, vocab: list[str], rate: float) -> str:
    words = text.split()
    out = []
    for w in words:
        r = rng.random()
        if r < rate / 3:
            continue
        out.append(rng.choice(vocab) if r < 2 * rate / 3 else w)
        if rate * 2 / 3 <= r < rate:
            out.append(rng.choice(vocab))
    return " ".join(out) or text


def make_frames(rng: random.Random, vocab: list[str], n: int = 300) -> list[str]:
    """The fixed frames plus random ones: instruction sets repeat phrasings, but not just ten."""
    made = [" ".join(rng.choice(vocab[:300]) for _ in range(rng.randint(3, 7))) + " {} "
            + " ".join(rng.choice(vocab[:300]) for _ in range(rng.randint(1, 4))) + " {} {}"
            for _ in range(n)]
    return FRAMES + [f.capitalize() + "." for f in made]


def make_records(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    vocab = vocabulary(rng)
    rng.shuffle(vocab)
    frames = make_frames(rng, vocab)
    out: list[str] = []
    for _ in range(n):
        r = rng.random()
        if out and r < 0.2:
            out.append(edit(rng, rng.choice(out[-2000:]), vocab, rng.uniform(0.02, 0.4)))
        elif r < 0.65:
            slots = [phrase(rng, vocab, rng.randint(1, 4)) for _ in range(3)]
            out.append(rng.choice(frames).format(*slots))
        else:
            k = rng.choice([rng.randint(6, 30), rng.randint(80, 200)])
            out.append(phrase(rng, vocab, k).capitalize())
    return out


def true_pairs(texts: list[str], threshold: float = 0.7) -> set[tuple[int, int]]:
    """All pairs with ROUGE-L > threshold, exactly: dot(counts) >= multiset overlap >= LCS."""
    toks = [tokens(t) for t in texts]
    index: dict[str, int] = {}
    rows, cols = [], []
    for i, ts in enumerate(toks):
        for w in ts:
            rows.append(i)
            cols.append(index.setdefault(w, len(index)))
    x = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(toks), len(index)))
    dots = sparse.triu(x @ x.T, k=1).tocoo()
    lens = np.array([len(t) for t in toks])
    bound = 2 * dots.data / (lens[dots.row] + lens[dots.col])
    keep = bound > threshold
    return {(int(i), int(j)) for i, j in zip(dots.row[keep], dots.col[keep])
            if rouge_l(toks[i], toks[j]) > threshold}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--sample", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    cfg = NearDupConfig()
    texts = make_records(args.n, args.seed)
    t0 = time.perf_counter()
    dropped = near_duplicates(texts, cfg=cfg)
    secs = time.perf_counter() - t0
    print(f"near-dup filter: {args.n} records in {secs:.1f} s ({args.n / secs:,.0f} records/s), "
          f"{len(dropped)} dropped")
    sample = make_records(args.sample, args.seed + 1)
    t0 = time.perf_counter()
    truth = true_pairs(sample)
    t_truth = time.perf_counter() - t0
    cands = candidate_pairs(sample, cfg)
    gone = set(near_duplicates(sample, cfg=cfg))
    found = sum(p in cands for p in truth)
    resolved = sum(p[0] in gone or p[1] in gone for p in truth)
    print(f"recall on {args.sample} records ({len(truth)} pairs with ROUGE-L > 0.7, all-pairs in "
          f"{t_truth:.1f} s): LSH candidates {found / max(1, len(truth)):.4f}, "
          f"pairs not both kept {resolved / max(1, len(truth)):.4f}")


if __name__ == "__main__":
    main()
