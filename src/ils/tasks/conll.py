"""CoNLL column files: one token per line, blank line between sentences, ``-DOCSTART-`` per document,
and the IOB tag schemes their spans are written in.

Kept apart from ``ner.py`` because other column tasks (chunking, POS) read the same format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from ils.errors import RecordError
from ils.io import text_lines
from ils.tasks.base import RawRecord

TAG_PREFIXES = ("B-", "I-", "E-", "S-")


def spans_from_tags(tags: list[str]) -> list[tuple[int, int, str]]:
    """Token spans (start, end exclusive, type) from IOB1 or IOB2 tags.

    An entity starts at ``B-X``, or at ``I-X`` not continuing an ``X`` (IOB1 starts entities with
    ``I-`` and uses ``B-`` only between two adjacent entities of one type). seqeval reads tags the
    same way, so spans decoded here score as seqeval would score the tags.
    """
    spans: list[list[Any]] = []
    prev = "O"
    for i, tag in enumerate(tags):
        kind, typ = (tag[0], tag[2:]) if tag != "O" else ("O", "")
        if kind == "B" or (kind == "I" and (prev == "O" or prev[2:] != typ)):
            spans.append([i, i + 1, typ])
        elif kind == "I":
            spans[-1][1] = i + 1
        prev = tag
    return [tuple(s) for s in spans]  # type: ignore[misc]


def tags_from_spans(spans: list[tuple[int, int, str]], length: int) -> list[str]:
    """IOB2 tags (``B-`` opens every entity) of non-overlapping token spans."""
    tags = ["O"] * length
    for start, end, typ in spans:
        for i in range(start, min(end, length)):
            tags[i] = ("B-" if i == start else "I-") + typ
    return tags


def read_conll(path: str | Path, options: dict[str, Any]) -> Iterator[RawRecord | RecordError]:
    """One record per sentence: tokens, text, entity spans; grouped by document."""
    path = Path(path)
    if not path.is_file():
        raise RecordError(str(path), None, "file", "not found")
    empty = True
    for first, doc, rows in _sentences(path, options.get("columns")):
        empty = False
        if isinstance(rows, RecordError):
            yield rows
            continue
        tokens = [r[options.get("token_column", 0)] for r in rows]
        tags = [r[options.get("tag_column", -1)] for r in rows]
        bad = next((i for i, t in enumerate(tags) if t != "O" and not t.startswith(("B-", "I-"))), None)
        if bad is not None:
            yield RecordError(str(path), first + bad, "tag", f"'{tags[bad]}' is not O, B-TYPE or I-TYPE")
            continue
        ents = [{"type": t, "text": " ".join(tokens[s:e]), "start": s, "end": e}
                for s, e, t in spans_from_tags(tags)]
        group = f"{path.name}#doc{doc}" if doc else None  # no -DOCSTART-: each sentence stands alone
        yield RawRecord({"tokens": tokens, "text": " ".join(tokens), "entities": ents}, str(path), first,
                        group)
    if empty:
        raise RecordError(str(path), None, "file", "no sentences in it (an empty file)")


def _sentences(path: Path, ncols: int | None) -> Iterator[tuple[int, int, Any]]:
    """(first line, document number, rows or the error of the sentence's first bad line)."""
    rows: list[list[str]] = []
    first, doc, error = 0, 0, None
    for n, line in text_lines(path):
        cols = line.split()
        if not cols or cols[0] == "-DOCSTART-":
            if rows or error:
                yield first, doc, error or rows
            rows, error = [], None
            doc += 1 if cols else 0
            continue
        ncols = ncols or len(cols)
        if not rows and error is None:
            first = n
        if len(cols) != ncols and error is None:
            error = RecordError(str(path), n, "columns", f"expected {ncols} columns, found {len(cols)}")
        rows.append(cols)
    if rows or error:
        yield first, doc, error or rows
