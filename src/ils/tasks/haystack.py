"""Paragraph pools of real prose for long-input haystacks: the public data folder, or any text file.

A haystack made of one generator's sentences is easy to search (the needle is the only sentence
unlike the rest) and an adapter trained on that generator learns the generator. Real paragraphs
bring numbers, names, dates and codes of their own. Sources read from a data folder laid out like
``../shared/data``: SQuAD v1.1 dev contexts (whole paragraphs), CoNLL-2003 news articles (sentences
detokenised, grouped into paragraphs), SemEval-2010 task 8 sentences (in runs of five); or the
blank-line paragraphs of a user's UTF-8 text file.

Every paragraph belongs to one share, decided by a hash of its whitespace-normalised text, so the
same text can never land on both sides: ``train`` (one in four; the chunk adapter's examples) and
``eval`` (the rest; the suite's haystacks). SQuAD paragraphs are always ``eval``: the question-over-a-
long-document task asks their questions.

    pool = load_pool("../shared/data").share("eval")
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ils.errors import ConfigError

# SmolLM2's tokenizer on the eval share: SQuAD 4.59, SemEval 4.82, CoNLL 3.62 characters a token (its
# tables are mostly digits, one token each); 4.3 overall (the share holds 861k tokens)
CHARS_PER_TOKEN = 4.3
TRAIN_SHARE = 4  # one paragraph in TRAIN_SHARE (by text hash) is the training share
PARAGRAPH_CHARS = 700  # CoNLL sentences and cut-up long paragraphs are grouped to about this length
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")


@dataclass(frozen=True)
class Paragraph:
    source: str  # where it came from: "squad:Super_Bowl_50:3", "conll:train.txt#doc12:0", "file:notes.txt:17"
    text: str
    held: bool = False  # always in the eval share


def text_key(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()


class Pool:
    """Paragraphs and the share each belongs to."""

    def __init__(self, paragraphs: list[Paragraph], name: str):
        if not paragraphs:
            raise ConfigError(f"{name}: no paragraphs of text to build haystacks from")
        self.paragraphs, self.name = paragraphs, name

    def share(self, which: str) -> Pool:
        """The ``train`` or ``eval`` share: a partition of the pool by text (see the module doc)."""
        if which not in ("train", "eval"):
            raise ConfigError(f"pool share must be train or eval, got '{which}'")
        held = {text_key(p.text) for p in self.paragraphs if p.held}
        keep = [p for p in self.paragraphs if (share_of(p.text, held) == which)]
        if not keep:
            raise ConfigError(f"{self.name}: its {which} share is empty ({len(self.paragraphs)} paragraphs); "
                              "give a longer text")
        return Pool(keep, f"{self.name}/{which}")

    def chars(self) -> int:
        return sum(len(p.text) for p in self.paragraphs)

    def keys(self) -> set[str]:
        return {text_key(p.text) for p in self.paragraphs}


def share_of(text: str, held: set[str] = frozenset()) -> str:
    key = text_key(text)
    return "eval" if key in held or int(key[:8], 16) % TRAIN_SHARE else "train"


def load_pool(spec: str | Path) -> Pool:
    """A data folder (any of squad_v1.1, conll2003, semeval2010_task8 in it) or a text file."""
    path = Path(spec)
    if path.is_file():
        return Pool(list(text_file(path)), path.name)
    if not path.is_dir():
        raise ConfigError(f"{path}: no such data folder or text file for haystacks")
    readers = {"squad_v1.1/dev-v1.1.json": squad, "conll2003": conll, "semeval2010_task8": semeval}
    found = [p for rel, reader in readers.items() if (path / rel).exists() for p in reader(path / rel)]
    if not found:
        raise ConfigError(f"{path}: none of {', '.join(readers)} is in this folder; give a data folder "
                          "or a text file")
    return Pool(found, path.name)


def squad(path: Path) -> Iterator[Paragraph]:
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
        for i, para in enumerate(article["paragraphs"]):
            yield Paragraph(f"squad:{article['title']}:{i}", para["context"].strip(), held=True)


def conll(folder: Path) -> Iterator[Paragraph]:
    """News articles: each document's sentences, detokenised, grouped into paragraphs."""
    from ils.tasks.base import RawRecord
    from ils.tasks.conll import read_conll

    for name in ("train.txt", "valid.txt", "test.txt"):
        if not (folder / name).is_file():
            continue
        doc, sentences = None, []
        for rec in read_conll(folder / name, {}):
            if not isinstance(rec, RawRecord):
                continue
            if rec.group != doc and sentences:
                yield from _grouped(f"conll:{doc}", sentences)
                sentences = []
            doc = rec.group
            sentences.append(detokenize(rec.fields["tokens"]))
        yield from _grouped(f"conll:{doc}", sentences)


def semeval(folder: Path) -> Iterator[Paragraph]:
    """Sentences (entity tags removed), five to a paragraph in file order."""
    line = re.compile(r'^(\d+)\t"(.*)"\s*$')
    for name in ("TRAIN_FILE.TXT", "TEST_FILE_FULL.TXT"):
        if not (folder / name).is_file():
            continue
        found = [m.groups() for m in map(line.match, (folder / name).read_text(encoding="utf-8").splitlines()) if m]
        for i in range(0, len(found), 5):
            text = " ".join(re.sub(r"</?e[12]>", "", s) for _, s in found[i:i + 5])
            yield Paragraph(f"semeval:{name}:{found[i][0]}", text)


def text_file(path: Path) -> Iterator[Paragraph]:
    """A user's UTF-8 text: blank-line paragraphs; one longer than a few hundred words is cut on sentences."""
    raw = path.read_bytes()
    if b"\x00" in raw[:8192]:
        raise ConfigError(f"{path}: looks binary (NUL bytes); give a UTF-8 text file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text near byte {e.start}") from None
    for i, para in enumerate(p for p in re.split(r"\n\s*\n", text) if p.strip()):
        para = " ".join(para.split())
        pieces = _grouped("", SENTENCE_END.split(para)) if len(para) > 3 * PARAGRAPH_CHARS else [Paragraph("", para)]
        for j, piece in enumerate(pieces):
            yield Paragraph(f"file:{path.name}:{i}" + (f".{j}" if j else ""), piece.text)


def _grouped(source: str, sentences: list[str]) -> Iterator[Paragraph]:
    """Consecutive sentences joined into paragraphs of about PARAGRAPH_CHARS characters."""
    current: list[str] = []
    groups = []
    for s in sentences:
        current.append(s)
        if sum(map(len, current)) >= PARAGRAPH_CHARS:
            groups.append(current)
            current = []
    for k, group in enumerate(groups + [current] if current else groups):
        yield Paragraph(f"{source}:{k}", " ".join(group))


_NO_SPACE_BEFORE = re.compile(r" ([.,;:!?%)\]}]|'s|'S|'re|'ve|'ll|'d|'m|n't)(?=\s|$)")
_NO_SPACE_AFTER = re.compile(r"([(\[{$]) ")
_QUOTE_PAIR = re.compile(r'" ([^"]*?) "')


def detokenize(tokens: list[str]) -> str:
    """CoNLL's space-separated tokens back to running text ('Germany 's call .' → "Germany's call.").
    Hand-written: a few rules cover this corpus, and no declared dependency ships a detokeniser."""
    text = " ".join(tokens)
    text = _QUOTE_PAIR.sub(r'"\1"', _NO_SPACE_AFTER.sub(r"\1", _NO_SPACE_BEFORE.sub(r"\1", text)))
    return text
