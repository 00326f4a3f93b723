"""Readers for the raw formats tasks come in: tables (TSV/CSV/JSONL/JSON), CoNLL columns, SQuAD.

Each yields ``RawRecord`` or, for a bad record, the ``RecordError`` saying where and why, so the
build can stop on the first error or drop the record with its reason (``--skip-invalid``).
A problem with a whole file (no such file, a missing column in the header) is raised at once.
"""

from __future__ import annotations

import csv
import itertools
import sys
from pathlib import Path
from typing import Any, Iterator

from ils.errors import RecordError
from ils.io import parse_json, read_text, text_lines
from ils.tasks.base import RawRecord

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise RecordError(str(path), None, "file", "not found")


def table_rows(path: str | Path) -> Iterator[tuple[int, Any, list[str] | None]]:
    """(line, row, header) of a TSV/CSV (header from the first line), JSONL or JSON list file."""
    path = Path(path)
    _check_file(path)
    suffix = path.suffix.lower()
    if suffix in (".tsv", ".csv"):
        rows = _delimited(path, "\t" if suffix == ".tsv" else ",")
    elif suffix in (".jsonl", ".ndjson"):
        rows = ((n, parse_json(line, path, n), None) for n, line in text_lines(path) if line.strip())
    elif suffix == ".json":
        rows = _json_list(path)
    else:
        raise RecordError(str(path), None, "file", "unknown extension; use .tsv, .csv, .jsonl or .json")
    empty = True
    for row in rows:
        empty = False
        yield row
    if empty:
        raise RecordError(str(path), None, "file", "no records in it (an empty file)")


def _json_list(path: Path) -> Iterator[tuple[int, Any, None]]:
    text = read_text(path)
    data = parse_json(text, path, 1) if text.strip() else []
    if isinstance(data, RecordError):
        raise data
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise RecordError(str(path), 1, "json", "expected a list of records")
    for n, row in enumerate(data, 1):
        yield n, row, None


def _delimited(path: Path, delim: str) -> Iterator[tuple[int, Any, list[str] | None]]:
    # GLUE TSVs are not quoted: a '"' inside a sentence is text, not a quote. Lines are streamed, so a
    # source's ``limit`` stops reading a large file early.
    quoting = csv.QUOTE_NONE if delim == "\t" else csv.QUOTE_MINIMAL
    lines = (line for _, line in text_lines(path))
    reader = csv.DictReader(lines, delimiter=delim, quoting=quoting)
    try:
        header = list(reader.fieldnames or [])
        for row in reader:
            yield reader.line_num, row, header
    except csv.Error as e:
        raise RecordError(str(path), reader.line_num, "csv", str(e)) from None


Columns = dict[str, "str | list[str]"]
LOOKAHEAD = 20  # JSON rows have no header: a column none of the first rows has is a mapping problem


def read_table(path: str | Path, columns: Columns, optional: tuple[str, ...] = (),
               group_column: str | None = None) -> Iterator[RawRecord | RecordError]:
    """Map each row's ``columns`` (field → column name) onto task fields.

    A field's column is named by the task option ``<field>_column``; a missing column is one error for
    the whole file that names that option. A field mapped to a list of columns (several reference
    answers: ``summary_column: [summary1, summary2]``) becomes the list of their non-empty values.
    """
    rows = table_rows(path)
    head = list(itertools.islice(rows, LOOKAHEAD))
    check_columns(path, head, columns, optional)
    for line, row, _ in itertools.chain(head, rows):
        yield row if isinstance(row, RecordError) else _table_record(path, line, row, columns,
                                                                      optional, group_column)


def _names(col: "str | list[str]") -> list[str]:
    return [str(c) for c in col] if isinstance(col, (list, tuple)) else [str(col)]


def check_columns(path: str | Path, head: list, columns: Columns, optional: tuple[str, ...]) -> None:
    """The header (or, without one, the keys of the first rows) must hold every required column."""
    header = head[0][2] if head and head[0][2] is not None else None
    seen = header if header is not None else list(dict.fromkeys(
        k for _, row, _ in head if isinstance(row, dict) for k in row))
    if header is None and not any(isinstance(row, dict) for _, row, _ in head):
        return  # no row to learn the keys from; each row reports itself
    for field, col in columns.items():
        missing = [c for c in _names(col) if c not in seen]
        if missing and field not in optional:
            where = "the header has" if header is not None else "its records have"
            raise RecordError(str(path), 1, missing[0], f"no such column ({where}: {', '.join(seen)}); "
                              f"map your column with `{field}_column:` in the source's options")


def _table_record(path: str | Path, line: int, row: Any, columns: Columns,
                  optional: tuple[str, ...], group_column: str | None) -> RawRecord | RecordError:
    if not isinstance(row, dict):
        return RecordError(str(path), line, "record", "not an object")
    fields: dict[str, Any] = {}
    for field, col in columns.items():
        if isinstance(col, (list, tuple)):
            values = [row.get(c) for c in _names(col)]
            value = [v for v in values if v is not None and not (isinstance(v, str) and not v.strip())]
            value = value or None
        else:
            value = row.get(col)
        if value is None or (isinstance(value, str) and not value.strip()):
            if field in optional:
                continue
            name = col if isinstance(col, str) else ", ".join(_names(col))
            return RecordError(str(path), line, name, "missing" if value is None else "empty")
        fields[field] = value
    group = str(row.get(group_column)) if group_column and row.get(group_column) is not None else None
    return RawRecord(fields, str(path), line, group)
