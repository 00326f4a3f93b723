"""An instruction pool that grows one record at a time and answers "is this a near-duplicate?".

Self-Instruct keeps a new instruction only if its ROUGE-L with every instruction already in the
pool is below 0.7; its reference code scores each candidate against the whole pool, O(n²) overall
(about 24 CPU-hours for 52k here). This pool indexes every kept instruction in MinHash LSH
(datasketch) and scores only the LSH candidates, with the bit-parallel ROUGE-L of
``ils.data.rouge``; shingles and thresholds are those of the data pipeline's near-dup filter
(``ils.data.dedup``), so both stages agree on what "near" means. ``bench/generate.py`` measures
the agreement with the all-pairs filter.
"""

from __future__ import annotations

from dataclasses import dataclass

from datasketch import MinHash, MinHashLSH

from ils.data.dedup import NearDupConfig, _hash32, _signatures, kinds, shingles
from ils.data.rouge import match_masks, rouge_l, tokens


@dataclass(frozen=True)
class Match:
    index: int  # position in the pool
    text: str
    score: float


class InstructionPool:
    """Kept instructions, indexed for near-duplicate queries (ROUGE-L ≥ ``threshold`` confirms)."""

    def __init__(self, threshold: float = 0.7, cfg: NearDupConfig = NearDupConfig()):
        self.threshold, self.cfg = threshold, cfg
        self.texts: list[str] = []
        self._toks: list[list[str]] = []
        self._masks: list[dict[str, int]] = []
        self._lsh = {"char": MinHashLSH(cfg.short_threshold, cfg.num_perm),
                     "word": MinHashLSH(cfg.long_threshold, cfg.num_perm)}
        self._proto = MinHash(num_perm=cfg.num_perm, seed=cfg.seed, hashfunc=_hash32)  # permutations, once

    def __len__(self) -> int:
        return len(self.texts)

    def _sig(self, text: str) -> dict[str, MinHash]:
        out = {}
        for kind in kinds(text, self.cfg):
            mh = MinHash(num_perm=self.cfg.num_perm, seed=self.cfg.seed, hashfunc=_hash32,
                         permutations=self._proto.permutations, scheme=self._proto.scheme)
            mh.update_batch(list(shingles(text, kind, self.cfg)))
            out[kind] = mh
        return out

    def query(self, text: str, sig: dict[str, MinHash] | None = None) -> Match | None:
        """The most similar pool instruction with ROUGE-L ≥ threshold, or None."""
        toks = tokens(text)
        n, best = len(toks), None
        for kind, mh in (sig or self._sig(text)).items():
            for j in self._lsh[kind].query(mh):
                other = self._toks[j]
                if 2 * min(n, len(other)) < self.threshold * (n + len(other)):
                    continue  # F = 2·LCS/(m+n) ≤ 2·min/(m+n): too different in length
                score = rouge_l(other, toks, self._masks[j])
                if score >= self.threshold and (best is None or score > best.score):
                    best = Match(j, self.texts[j], score)
        return best

    def add(self, text: str, sig: dict[str, MinHash] | None = None) -> int:
        """Index ``text`` (no check); returns its position."""
        i = len(self.texts)
        toks = tokens(text)
        self.texts.append(text)
        self._toks.append(toks)
        self._masks.append(match_masks(toks))
        for kind, mh in (sig or self._sig(text)).items():
            self._lsh[kind].insert(i, mh, check_duplication=False)
        return i

    def signatures(self, texts: list[str]) -> list[dict[str, MinHash]]:
        """Signatures of many texts at once (vectorized; the same values as one by one)."""
        return _signatures(texts, self.cfg)

    def offer_many(self, texts: list[str]) -> list[Match | None]:
        """``offer`` each text in order: each is checked against the pool including the earlier ones."""
        return [self.offer(t, sig) for t, sig in zip(texts, self.signatures(texts))]

    def offer(self, text: str, sig: dict[str, MinHash] | None = None) -> Match | None:
        """Add ``text`` unless it near-duplicates the pool; returns the match that blocked it."""
        sig = sig or self._sig(text)
        hit = self.query(text, sig)
        if hit is None:
            self.add(text, sig)
        return hit


def max_rouge(text: str, refs: list[list[str]], masks: list[dict[str, int]] | None = None) -> tuple[float, int]:
    """Highest ROUGE-L of ``text`` against every reference token list (exact, all pairs), and its index."""
    toks = tokens(text)
    best, arg = 0.0, -1
    for j, ref in enumerate(refs):
        s = rouge_l(ref, toks, masks[j] if masks else None)
        if s > best:
            best, arg = s, j
    return best, arg


def all_pairs_filter(texts: list[str], threshold: float = 0.7) -> list[bool]:
    """The reference Self-Instruct decision (keep iff ROUGE-L < threshold against every kept text)."""
    kept_toks: list[list[str]] = []
    kept_masks: list[dict[str, int]] = []
    out = []
    for text in texts:
        score, _ = max_rouge(text, kept_toks, kept_masks)
        keep = score < threshold
        if keep:
            t = tokens(text)
            kept_toks.append(t)
            kept_masks.append(match_masks(t))
        out.append(keep)
    return out
