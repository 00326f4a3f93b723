"""Readers for the raw formats tasks come in: tables (TSV/CSV/JSONL/JSON), CoNLL columns, SQuAD.

Each yields ``RawRecord`` or, for a bad record, the ``RecordError`` saying where and why, so the
build can stop on the first error or drop the record with its reason (``--skip-invalid``).
A problem with a whole file (no such file, a missing column in the header) is raised at once.
"""

from __future__ import annotations

import csv
import io
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
    # GLUE TSVs are not quoted: a '"' inside a sentence is text, not a quote.
    quoting = csv.QUOTE_NONE if delim == "\t" else csv.QUOTE_MINIMAL
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""), delimiter=delim, quoting=quoting)
    try:
        header = list(reader.fieldnames or [])
        for row in reader:
            yield reader.line_num, row, header
    except csv.Error as e:
        raise RecordError(str(path), reader.line_num, "csv", str(e)) from None


def read_table(path: str | Path, columns: dict[str, str], optional: tuple[str, ...] = (),
               group_column: str | None = None) -> Iterator[RawRecord | RecordError]:
    """Map each row's ``columns`` (field → column name) onto task fields."""
    checked = False
    for line, row, header in table_rows(path):
        if not checked and header is not None:
            _check_header(path, header, columns, optional)
        checked = True
        yield row if isinstance(row, RecordError) else _table_record(path, line, row, columns,
                                                                      optional, group_column)


def _check_header(path: str | Path, header: list[str], columns: dict[str, str],
                  optional: tuple[str, ...]) -> None:
    for field, col in columns.items():
        if col not in header and field not in optional:
            raise RecordError(str(path), 1, col, f"missing column (the header has: {', '.join(header)})")


def _table_record(path: str | Path, line: int, row: Any, columns: dict[str, str],
                  optional: tuple[str, ...], group_column: str | None) -> RawRecord | RecordError:
    if not isinstance(row, dict):
        return RecordError(str(path), line, "record", "not an object")
    fields: dict[str, Any] = {}
    for field, col in columns.items():
        value = row.get(col)
        if value is None or (isinstance(value, str) and not value.strip()):
            if field in optional:
                continue
            return RecordError(str(path), line, col, "missing" if value is None else "empty")
        fields[field] = value
    group = str(row.get(group_column)) if group_column and row.get(group_column) is not None else None
    return RawRecord(fields, str(path), line, group)
