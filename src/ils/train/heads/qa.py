"""Extractive QA head: predict the answer span's start and end tokens inside the context.

Long contexts are cut into overlapping windows (``head.doc_stride``) with the tokenizer's offset
mapping, so every answer lies wholly inside some window; a window without the answer points at [CLS].
Decoding keeps the ``n_best`` starts and ends per window, drops spans that are reversed, too long or
outside the context, and takes the best start+end score over all windows. Scored with SQuAD's
official EM/F1 normalisation (lower case, no punctuation, no articles, single spaces).
Reads SQuAD JSON or JSONL {id, question, context, answers: {text: [...], answer_start: [...]}}.
"""

from __future__ import annotations

import collections
import json
import re
import string
from pathlib import Path
from typing import Any

import torch

from ils.errors import ConfigError, RecordError
from ils.io import json_lines, parse_json, read_text, write_text
from ils.train.heads import HEADS, Head, collate_items


def read_squad(path: Path) -> list[dict]:
    """SQuAD JSON ({"data": [articles]}) or JSONL rows {id, question, context, answers}."""
    if not path.is_file():
        raise RecordError(str(path), None, "file", "not found")
    out = [_squad_row(r, str(path), n) for n, r in json_lines(path)] if path.suffix == ".jsonl" \
        else _squad_articles(path)
    if not out:
        raise RecordError(str(path), None, "file", "no questions in it (an empty file)")
    return out


def _squad_row(row: Any, file: str, line: int) -> dict:
    answers = row.get("answers") if isinstance(row, dict) else None
    ok = (isinstance(answers, dict) and isinstance(row.get("question"), str)
          and isinstance(row.get("context"), str) and isinstance(answers.get("text"), list)
          and isinstance(answers.get("answer_start"), list))
    if not ok:
        raise RecordError(file, line, "answers", "expected {question, context, answers: {text: [...], "
                          "answer_start: [...]}}")
    return {"title": "", "id": str(line), **row}


def _squad_articles(path: Path) -> list[dict]:
    data = parse_json(read_text(path), path, None)
    if isinstance(data, RecordError):
        raise data
    out, where = [], "data"
    try:
        for i, article in enumerate(data["data"]):
            for j, para in enumerate(article["paragraphs"]):
                for k, qa in enumerate(para["qas"]):
                    where = f"data[{i}].paragraphs[{j}].qas[{k}]"
                    out.append({"id": qa["id"], "title": article.get("title", f"article{i}"),
                                "question": qa["question"], "context": para["context"],
                                "answers": {"text": [a["text"] for a in qa["answers"]],
                                            "answer_start": [a["answer_start"] for a in qa["answers"]]}})
    except (KeyError, TypeError, AttributeError) as e:
        raise RecordError(str(path), None, where, f"not SQuAD's layout (missing or wrong {e})") from None
    return out


def split_by_article(src: Path, out_dir: Path) -> tuple[Path, Path]:
    """A SQuAD file → train.jsonl (first half of the articles) + test.jsonl (second half): no article
    is in both, so no context the model was tuned on is scored."""
    records = read_squad(src)
    titles = list(dict.fromkeys(r["title"] for r in records))
    first = set(titles[: len(titles) // 2])
    paths = out_dir / "train.jsonl", out_dir / "test.jsonl"
    for path, keep in zip(paths, (True, False)):
        write_text(path, "".join(json.dumps(r) + "\n" for r in records if (r["title"] in first) == keep))
    return paths


def windows(tok: Any, records: list[dict], cfg: Any) -> Any:
    return tok([r["question"].lstrip() for r in records], [r["context"] for r in records],
               truncation="only_second", max_length=cfg.max_length, stride=cfg.head.doc_stride,
               return_overflowing_tokens=True, return_offsets_mapping=True)


def answer_tokens(enc: Any, i: int, start: int, end: int) -> tuple[int, int]:
    """Token positions of the character span [start, end) in window i, or (0, 0) when outside it."""
    seq, offsets = enc.sequence_ids(i), enc["offset_mapping"][i]
    ctx = [k for k, s in enumerate(seq) if s == 1]
    if not ctx or offsets[ctx[0]][0] > start or offsets[ctx[-1]][1] < end:
        return 0, 0
    s = next(k for k in ctx if offsets[k][1] > start)
    e = next(k for k in reversed(ctx) if offsets[k][0] < end)
    return s, e


def window_spans(enc: Any, i: int, record: dict, all_answers: bool) -> list[tuple[int, int]]:
    """Training targets of window i: the first gold span, or every distinct one; (0, 0) only when
    none of them lies inside the window."""
    golds = list(zip(record["answers"]["answer_start"], record["answers"]["text"]))
    golds = golds if all_answers else golds[:1]
    spans = dict.fromkeys(answer_tokens(enc, i, s, s + len(t)) for s, t in golds)
    inside = [sp for sp in spans if sp != (0, 0)]
    return inside or [(0, 0)]


def marginal_labels(spans: list[tuple[int, int]]) -> list[int]:
    """Spans as [s1, e1, s2, e2, ...], a start (or end) already listed replaced by -100 so that the
    summed probability counts each position once."""
    seen: tuple[set, set] = (set(), set())
    out = []
    for span in spans:
        for side, pos in enumerate(span):
            out.append(-100 if pos in seen[side] else pos)
            seen[side].add(pos)
    return out


def marginal_nll(logits: torch.Tensor, gold: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum over rows of -log(sum of the probabilities of the row's gold positions; -100 = none), and
    the number of rows. One gold position per row is plain cross-entropy. torch has no loss over a set
    of correct classes, hence this."""
    keep = gold != -100
    logp = logits.float().log_softmax(-1).gather(1, gold.clamp(min=0))
    rows = keep.any(1)
    picked = logp.masked_fill(~keep, float("-inf")).logsumexp(1)
    return -picked[rows].sum(), rows.sum()


@HEADS.register("extractive-qa")
class ExtractiveQA(Head):
    task = "extractive-qa"
    auto_class = "AutoModelForQuestionAnswering"

    def read(self, path: Path) -> list:
        return read_squad(path)

    def encode(self, records: list, tok: Any, cfg: Any, labels: list[str] | None) -> list:
        if cfg.head.doc_stride >= cfg.max_length // 2:
            raise ConfigError(f"head.doc_stride: {cfg.head.doc_stride} must be under half of max_length "
                              f"({cfg.max_length}) so that windows advance")
        enc, items = windows(tok, records, cfg), []
        for i, ids in enumerate(enc["input_ids"]):
            r = records[enc["overflow_to_sample_mapping"][i]]
            types = enc["token_type_ids"][i] if "token_type_ids" in enc else [0] * len(ids)
            spans = window_spans(enc, i, r, cfg.head.all_answers)
            if cfg.head.answer_loss == "marginal":
                items.append((ids, marginal_labels(spans), types))
            else:
                items += [(ids, list(span), types) for span in spans]
        return items

    def loss(self, out: Any, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        start, n = marginal_nll(out.start_logits, labels[:, 0::2])
        end, _ = marginal_nll(out.end_logits, labels[:, 1::2])
        return (start + end) / 2, n

    @torch.no_grad()
    def predict(self, model: Any, tok: Any, records: list, cfg: Any) -> dict[str, str]:
        enc = windows(tok, records, cfg)
        best: dict[int, tuple[float, str]] = {}
        for lo in range(0, len(enc["input_ids"]), 32):
            idx = list(range(lo, min(lo + 32, len(enc["input_ids"]))))
            items = [(enc["input_ids"][i], [0], enc["token_type_ids"][i] if "token_type_ids" in enc
                      else [0] * len(enc["input_ids"][i])) for i in idx]
            batch = collate_items(items, tok.pad_token_id)
            batch.pop("labels")
            if "token_type_ids" not in tok.model_input_names:
                batch.pop("token_type_ids")
            out = model(**batch)
            for row, i in enumerate(idx):
                rec_i = enc["overflow_to_sample_mapping"][i]
                cand = self._best_span(enc, i, out.start_logits[row], out.end_logits[row], cfg,
                                       records[rec_i]["context"])
                if cand and (rec_i not in best or cand[0] > best[rec_i][0]):
                    best[rec_i] = cand
        return {r["id"]: best.get(k, (0.0, ""))[1] for k, r in enumerate(records)}

    def _best_span(self, enc: Any, i: int, start: torch.Tensor, end: torch.Tensor, cfg: Any,
                   context: str) -> tuple[float, str] | None:
        seq, offsets, h = enc.sequence_ids(i), enc["offset_mapping"][i], cfg.head
        starts = start.topk(min(h.n_best, len(start))).indices.tolist()
        ends = end.topk(min(h.n_best, len(end))).indices.tolist()
        spans = [(start[s].item() + end[e].item(), s, e) for s in starts for e in ends
                 if s < len(seq) and e < len(seq) and seq[s] == 1 and seq[e] == 1
                 and s <= e < s + h.max_answer_length]
        if not spans:
            return None
        score, s, e = max(spans)
        return score, context[offsets[s][0]:offsets[e][1]]

    def score(self, model: Any, tok: Any, records: list, cfg: Any, labels: list[str] | None) -> dict:
        preds = self.predict(model, tok, records, cfg)
        em = [max(exact(preds[r["id"]], g) for g in r["answers"]["text"]) for r in records]
        f1 = [max(token_f1(preds[r["id"]], g) for g in r["answers"]["text"]) for r in records]
        n = max(len(records), 1)
        return {"metric": "squad EM/F1", "exact_match": sum(em) / n, "f1": sum(f1) / n}


def normalize(text: str) -> str:
    """SQuAD v1.1's official answer normalisation."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def exact(pred: str, gold: str) -> float:
    return float(normalize(pred) == normalize(gold))


def token_f1(pred: str, gold: str) -> float:
    p, g = normalize(pred).split(), normalize(gold).split()
    common = sum((collections.Counter(p) & collections.Counter(g)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)
