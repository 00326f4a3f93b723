"""CoNLL column files: one token per line, blank line between sentences, ``-DOCSTART-`` per document.

Kept apart from ``ner.py`` because other column tasks (chunking, POS) read the same format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from ils.errors import RecordError
from ils.io import text_lines
from ils.tasks.base import RawRecord

TAG_PREFIXES = ("B-", "I-", "E-", "S-")


def read_conll(path: str | Path, options: dict[str, Any]) -> Iterator[RawRecord | RecordError]:
    """One record per sentence: tokens, text, entity spans; grouped by document."""
    from ils.tasks.ner import spans_from_tags

    path = Path(path)
    if not path.is_file():
        raise RecordError(str(path), None, "file", "not found")
    for first, doc, rows in _sentences(path, options.get("columns")):
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
