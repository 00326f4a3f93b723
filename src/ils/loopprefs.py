"""Preference data for ``ils loop --objective dpo|kto``, and the held-out score that gates it.

DPO pairs come from corrections (chosen = the correction, rejected = the answer the model gave); KTO
takes every rating (+1 desirable, -1 undesirable; a correction is desirable beside the answer it
replaces), and replay records join KTO as desirable answers (DPO has no place for them: replay there is
EWC's data). Pairs are deduplicated by prompt (the newest feedback wins), decontaminated against the
regression set, and split by id hash like the SFT loop's examples, so a row stays on its side as
feedback grows. The held-out score is the mean log-probability of the preferred answers minus that of
the others, under each version: the quantity DPO raises, measured on prompts it did not train on.
"""

from __future__ import annotations

import random
from typing import Any

from ils.errors import ILSError
from ils.feedback_data import decontaminate, norm, prompt_text, split_heldout
from ils.preference import LABEL, REJECTED, feedback_pairs, feedback_ratings
from ils.records import Example


def preference_data(rows: list[dict], regression: list[Example], replay: list[Example], cfg: Any) -> dict:
    made = feedback_pairs(rows) if cfg.objective == "dpo" else feedback_ratings(rows)
    by_prompt: dict[tuple, Example] = {}
    for ex in made:  # oldest first: a newer answer to the same prompt (and of the same kind) replaces it
        by_prompt[(norm(prompt_text(ex)), ex.meta.get(LABEL))] = ex
    kept, contaminated = decontaminate(list(by_prompt.values()), regression)
    drops = {"duplicate prompt (newer feedback kept)": len(made) - len(by_prompt),
             "in the regression set": contaminated}
    if len(kept) < 2:
        what = "corrections (dpo pairs)" if cfg.objective == "dpo" else "rated answers"
        raise ILSError(f"ils loop --objective {cfg.objective}: {len(kept)} usable {what}; need 2 (one to train, "
                       f"one held out); dropped: {drops}")
    train, heldout = split_heldout(kept, cfg.heldout)
    sample = _replay(replay, regression, len(train), cfg) if cfg.objective == "kto" else []
    mixed = train + sample
    random.Random(cfg.seed).shuffle(mixed)
    manifest = {"feedback_rows": len(rows), "objective": cfg.objective, "train_feedback": len(train),
                "heldout_feedback": len(heldout), "replay": len(sample), "replay_pool": len(replay),
                "dropped": {k: v for k, v in drops.items() if v}}
    return {"train": mixed, "heldout": heldout, "manifest": manifest}


def _replay(replay: list[Example], regression: list[Example], n_train: int, cfg: Any) -> list[Example]:
    clean, _ = decontaminate(replay, regression)
    sample = random.Random(cfg.seed).sample(clean, min(len(clean), round(cfg.replay_ratio * n_train)))
    return [ex.model_copy(update={"meta": {**ex.meta, LABEL: True}}) for ex in sample]


def preference_margin(engine: Any, heldout: list[Example]) -> float:
    """Mean log-prob of the preferred held-out answers minus the mean of the others."""
    prompts = [ex.prompt_messages for ex in heldout]
    options = [[ex.response, ex.meta[REJECTED]] if REJECTED in ex.meta else [ex.response] for ex in heldout]
    scores = engine.score(prompts, options)
    good, bad = [], []
    for ex, s in zip(heldout, scores):
        if REJECTED in ex.meta:
            good.append(s[0])
            bad.append(s[1])
        else:
            (good if ex.meta.get(LABEL) else bad).append(s[0])
    mean = lambda xs: sum(xs) / len(xs) if xs else 0.0  # noqa: E731
    return round(mean(good) - mean(bad), 4)
