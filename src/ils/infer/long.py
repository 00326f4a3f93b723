"""Streaming, token-aware chunking of inputs of any length, in bounded memory.

The input is read in fixed-size blocks and cut into units on paragraph boundaries (or, for a
paragraph longer than a few chunks, on sentence and then word boundaries), so at most one unit and
one chunk are ever held, whatever the file size. Units too long for a chunk are split into sentences,
then word windows. Chunks are counted with the model's tokenizer (the sum of the pieces' counts,
which can differ from the joined text's count by a token per boundary) and overlap by whole pieces.

    for chunk in chunk_file("book.txt", token_counter(tok), size=2048, overlap=128): ...
"""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ils.errors import InputError

Counter = Callable[[str], int]
BLOCK = 1 << 16
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Chunk:
    index: int
    text: str
    tokens: int

    def snippet(self, n: int = 160) -> str:
        return self.text[:n].replace("\n", " ") + ("…" if len(self.text) > n else "")


def token_counter(tok) -> Counter:
    """The tokenizer's token count of a text, without special tokens."""
    return lambda text: len(tok(text, add_special_tokens=False).input_ids)


def check_input(path: str | Path) -> Path:
    """A readable, non-empty text file, or a clear error (before any model runs)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: input file not found")
    with open(path, "rb") as f:
        head = f.read(8192)
    if not head:
        raise InputError(f"{path}: input is empty")
    if b"\x00" in head:
        raise InputError(f"{path}: input looks binary (NUL bytes in the first 8 KiB); give a text file")
    return path


def spool_stdin(dest: Path, stream: IO[bytes] | None = None) -> Path:
    """Copy standard input to ``dest`` block by block, so it can be read twice (count, then run)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as f:
        shutil.copyfileobj(stream or sys.stdin.buffer, f, BLOCK)
    return dest


def read_blocks(path: Path, size: int = BLOCK) -> Iterator[str]:
    """Decoded text blocks of a UTF-8 file; a decoding error names the byte offset."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open(path, "rb") as f:
        while raw := f.read(size):
            try:
                yield decoder.decode(raw)
            except UnicodeDecodeError as e:
                raise InputError(f"{path}: not UTF-8 text near byte {offset + e.start} ({e.reason})") from None
            offset += len(raw)
        yield decoder.decode(b"", final=True)


def iter_units(blocks: Iterable[str], max_chars: int) -> Iterator[str]:
    """Paragraphs (stripped, non-empty), each at most ``max_chars`` long: long ones are cut on
    a sentence end, else on whitespace, else hard. Holds at most ``max_chars`` + one block."""
    buf = ""
    for block in blocks:
        buf += block
        while True:
            i = buf.find("\n\n")
            if 0 <= i <= max_chars:
                unit, buf = buf[:i], buf[i + 2:]
            elif len(buf) > max_chars:
                cut = _cut_point(buf, max_chars)
                unit, buf = buf[:cut], buf[cut:]
            else:
                break
            if unit.strip():
                yield unit.strip()
    if buf.strip():
        yield buf.strip()


def _cut_point(text: str, limit: int) -> int:
    window = text[:limit]
    ends = [m.end() for m in SENTENCE_END.finditer(window)]
    if ends and ends[-1] > limit // 4:
        return ends[-1]
    space = window.rfind(" ")
    return space + 1 if space > limit // 4 else limit


def split_piece(text: str, count: Counter, size: int) -> list[tuple[str, int]]:
    """A unit → its sentences as pieces of at most ``size`` tokens (word windows if a sentence is longer)."""
    out: list[tuple[str, int]] = []
    for sentence in SENTENCE_END.split(text):
        if sentence:
            n = count(sentence)
            out += [(sentence, n)] if n <= size else _windows(sentence, count, size, n)
    return out


def _windows(text: str, count: Counter, size: int, n: int) -> list[tuple[str, int]]:
    words = text.split(" ")
    if len(words) == 1:  # one unbreakable "word" longer than a chunk: cut it by characters
        step = max(1, int(len(text) * size / n * 0.9))
        return [p for i in range(0, len(text), step) for p in split_piece(text[i:i + step], count, size)]
    step = max(1, int(len(words) * size / n * 0.9))
    return [p for i in range(0, len(words), step) for p in split_piece(" ".join(words[i:i + step]), count, size)]


def chunk_units(units: Iterable[str], count: Counter, size: int, overlap: int = 0) -> Iterator[Chunk]:
    """Pack pieces into chunks of at most ``size`` tokens; each chunk starts with the tail pieces
    (at most ``overlap`` tokens) of the one before."""
    if size < 1 or overlap < 0 or overlap >= size:
        raise InputError(f"chunk size must be ≥1 and overlap in [0, size); got size={size}, overlap={overlap}")
    current: list[tuple[str, int, str]] = []  # (text, tokens, separator before it)
    index = total = 0
    for unit in units:
        for k, (piece, n) in enumerate(split_piece(unit, count, size)):
            if current and total + n > size:
                yield _chunk(index, current)
                index += 1
                current = _tail(current, overlap, size - n)
                total = sum(p[1] for p in current)
            current.append((piece, n, "\n\n" if k == 0 else " "))
            total += n
    if current:  # never only overlap: a new piece always follows the carried tail
        yield _chunk(index, current)


def _chunk(index: int, pieces: list[tuple[str, int, str]]) -> Chunk:
    text = pieces[0][0] + "".join(sep + t for t, _, sep in pieces[1:])
    return Chunk(index, text, sum(p[1] for p in pieces))


def _tail(pieces: list[tuple[str, int, str]], overlap: int, room: int) -> list[tuple[str, int, str]]:
    keep: list[tuple[str, int, str]] = []
    total = 0
    for p in reversed(pieces):
        if total + p[1] > min(overlap, room):
            break
        keep.insert(0, p)
        total += p[1]
    return keep


def chunk_file(path: str | Path, count: Counter, size: int, overlap: int = 0) -> Iterator[Chunk]:
    """Chunks of a text file, streamed; ``size`` and ``overlap`` in tokens."""
    path = check_input(path)
    return chunk_units(iter_units(read_blocks(path), max_chars=size * 8), count, size, overlap)
